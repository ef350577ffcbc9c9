"""The parent's view of what the store already holds while it ingests slices: URIs found by
binary search in sorted hashes (`Vocabulary`), names that disagree with the store, and
`compact`, which drops rejected playlists from a parsed slice."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from spotifier.mpd.validate import Violation
from spotifier.store import columns
from spotifier.store.columns import ParsedSlice

#: (table, index column, uri column, name column, slice table attribute) per kind of URI; each
#: table is named like the slice's attribute, and its index column like its URI column.
KINDS = tuple(
    (attr, uri.removesuffix("_uri") + "_idx", uri, name, attr) for attr, uri, name in columns.KINDS
)


def _lookup(
    con: duckdb.DuckDBPyConnection, table: str, idx: str, uri: str, name: str, local: pa.Table
) -> tuple[np.ndarray, np.ndarray]:
    """Stored index (-1 when new) of each slice-local URI, and whether its stored name differs."""
    codes = np.arange(local.num_rows, dtype=np.int32)
    con.register("_uris", pa.table({"code": codes, "uri": local[uri], "name": local[name]}))
    try:
        found = con.sql(
            f"SELECT s.code, t.{idx} AS idx, t.{name} <> s.name AS differs FROM _uris s "
            f"JOIN {table} t ON t.{uri} = s.uri"
        ).fetchnumpy()
    finally:
        con.unregister("_uris")
    index = np.full(local.num_rows, -1, dtype=np.int64)
    index[found["code"]] = found["idx"]
    differs = np.zeros(local.num_rows, dtype=bool)
    differs[found["code"][np.asarray(found["differs"], dtype=bool)]] = True
    return index, differs


def _find(keys: np.ndarray, needles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position in sorted `keys` of each needle and whether it is there.

    The needles are searched in sorted order: each search starts where the last ended, so the
    probes walk the keys once instead of missing the cache (2.2M track keys, 35k needles: 22 ->
    6 ms).
    """
    if not len(keys):
        return np.zeros(len(needles), dtype=np.int64), np.zeros(len(needles), dtype=bool)
    order = np.argsort(needles)
    at = np.empty(len(needles), dtype=np.int64)
    at[order] = np.minimum(np.searchsorted(keys, needles[order]), len(keys) - 1)
    return at, keys[at] == needles


class Vocabulary:
    """The store's URIs (as hashes), their index and their name's hash, per kind, held by the
    parent while it ingests.

    A slice's URIs are found by binary search in sorted 64-bit hashes instead of a join against
    tables that grow with every slice (at 1M playlists the join cost 0.39 s per slice, most of
    the parent's time). A URI is the pair of two hashes (128 bits); a slice where the first
    matches but not the second is looked up exactly in SQL instead. Indices are dense (0..n-1 in
    order of first appearance), so arrays indexed by them hold the names' hashes.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.by_idx: dict[str, dict[str, np.ndarray]] = {}
        self.sorted: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # (first hash, index) by hash
        for table, idx, uri, name, attr in KINDS:
            got = con.sql(f"SELECT {idx} AS code, {columns.hash_sql(uri, name)} FROM {table}")
            stored = columns.by_code(got.fetchnumpy())
            self.by_idx[attr] = stored
            by_hash = np.argsort(stored["a"], kind="stable")
            self.sorted[attr] = (stored["a"][by_hash], by_hash.astype(np.int64))
        self.pids = np.sort(con.sql("SELECT pid FROM playlists").fetchnumpy()["pid"])

    def stored_pids(self, pids: np.ndarray) -> np.ndarray:
        """Which of `pids` are already in the store (a join against the growing playlists
        table cost 10-30 ms per slice at 1M)."""
        return _find(self.pids, pids)[1]

    def lookup(
        self, parsed: ParsedSlice, table: str, idx: str, uri: str, name: str, attr: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stored index (-1 when new) of each slice-local URI, and whether its stored name differs
        (as SQL's `<>`: a missing name on either side is no difference)."""
        local: pa.Table = getattr(parsed, attr)
        mine = parsed.hashes[attr]  # computed by the worker (`parse_slice_file`)
        keys, ids = self.sorted[attr]
        at, hit = _find(keys, mine["a"])
        index = np.full(local.num_rows, -1, dtype=np.int64)
        index[hit] = ids[at[hit]]
        found = np.flatnonzero(index >= 0)
        ours = self.by_idx[attr]
        if not np.array_equal(ours["b"][index[found]], mine["b"][found]):
            return _lookup(self.con, table, idx, uri, name, local)  # a 64-bit clash: be exact
        stored = index[found]
        differs = np.zeros(local.num_rows, dtype=bool)
        differs[found] = (
            (ours["n"][stored] != mine["n"][found])
            & ~ours["missing"][stored]
            & ~mine["missing"][found]
        )
        return index, differs

    def add(self, parsed: ParsedSlice, stored: dict[str, np.ndarray]) -> None:
        """Record a committed slice: its new URIs get the next indices, in slice order, as
        `_write_slice` gave them."""
        pids = np.sort(parsed.playlists["pid"].to_numpy())
        self.pids = np.insert(self.pids, np.searchsorted(self.pids, pids), pids)
        for *_, attr in KINDS:
            new = np.flatnonzero(stored[attr] < 0)
            if not len(new):
                continue
            mine = columns.take_hashes(parsed.hashes[attr], new)
            ours = self.by_idx[attr]
            first = len(ours["a"])
            for key in ours:
                ours[key] = np.concatenate([ours[key], mine[key]])
            keys, ids = self.sorted[attr]
            order = np.argsort(mine["a"], kind="stable")
            fresh = mine["a"][order]
            where = np.searchsorted(keys, fresh)
            self.sorted[attr] = (
                np.insert(keys, where, fresh),
                np.insert(ids, where, first + order.astype(np.int64)),
            )


def store_conflicts(
    vocabulary: Vocabulary, parsed: ParsedSlice
) -> tuple[dict[str, np.ndarray], list[tuple[int | None, list[Violation]]]]:
    """Stored indices per kind, and playlists that name a known URI differently (rejected)."""
    stored: dict[str, np.ndarray] = {}
    bad: dict[str, np.ndarray] = {}
    for table, idx, uri, name, attr in KINDS:
        stored[attr], bad[attr] = vocabulary.lookup(parsed, table, idx, uri, name, attr)
    if not any(mask.any() for mask in bad.values()):
        return stored, []
    t_artist = parsed.tracks["artist"].to_numpy()
    t_album = parsed.tracks["album"].to_numpy()
    per_entry = {
        "tracks": bad["tracks"][parsed.entry_track],
        "artists": bad["artists"][t_artist[parsed.entry_track]],
        "albums": bad["albums"][t_album[parsed.entry_track]],
    }
    pids = parsed.playlists["pid"].to_numpy()
    problems: dict[int, list[Violation]] = {}
    for table, _, uri, name, attr in KINDS:
        for e in np.flatnonzero(per_entry[attr]):
            row = int(parsed.entry_row[e])
            code = int(parsed.entry_track[e])
            code = {"tracks": code, "artists": t_artist[code], "albums": t_album[code]}[attr]
            the_uri = getattr(parsed, attr)[uri][int(code)].as_py()
            problems.setdefault(row, []).append(
                Violation(
                    parsed.file,
                    int(pids[row]),
                    f"tracks[{parsed.entry_pos[e]}].{name}",
                    f"{the_uri} is named differently in the store ({table})",
                )
            )
    return stored, [(None, problems[row]) for row in sorted(problems)]


def compact(
    parsed: ParsedSlice, keep_rows: np.ndarray
) -> tuple[ParsedSlice, dict[str, np.ndarray]]:
    """Drop playlists (rows not in `keep_rows`) and whatever only they used.

    Returns the smaller slice and, per kind, the old code of each new code.
    """
    keep = np.zeros(parsed.n_playlists, dtype=bool)
    keep[keep_rows] = True
    row_map = np.cumsum(keep) - 1
    on = keep[parsed.entry_row]

    def by_first(codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        uniq, first = np.unique(codes, return_index=True)
        order = uniq[np.argsort(first, kind="stable")]
        remap = np.full(n, -1, dtype=np.int32)
        remap[order] = np.arange(len(order), dtype=np.int32)
        return order, remap

    t_order, t_remap = by_first(parsed.entry_track[on], parsed.tracks.num_rows)
    tracks = parsed.tracks.take(pa.array(t_order))
    a_order, a_remap = by_first(tracks["artist"].to_numpy(), parsed.artists.num_rows)
    b_order, b_remap = by_first(tracks["album"].to_numpy(), parsed.albums.num_rows)
    tracks = tracks.set_column(2, "artist", pa.array(a_remap[tracks["artist"].to_numpy()]))
    tracks = tracks.set_column(3, "album", pa.array(b_remap[tracks["album"].to_numpy()]))
    albums = parsed.albums.take(pa.array(b_order))
    # an album's artist is the artist of its first track; that artist is kept with the track
    albums = albums.set_column(2, "artist", pa.array(a_remap[albums["artist"].to_numpy()]))
    out = ParsedSlice(
        file=parsed.file,
        md5=parsed.md5,
        nbytes=parsed.nbytes,
        playlists=parsed.playlists.filter(pa.array(keep)),
        entry_row=row_map[parsed.entry_row[on]].astype(np.int32),
        entry_pos=parsed.entry_pos[on],
        entry_track=t_remap[parsed.entry_track[on]],
        tracks=tracks,
        artists=parsed.artists.take(pa.array(a_order)),
        albums=albums,
        n_read=parsed.n_read,
        rejected=parsed.rejected,
        info_problems=parsed.info_problems,
    )
    old_codes = {"tracks": t_order, "artists": a_order, "albums": b_order}
    out.hashes = {
        attr: columns.take_hashes(hashes, old_codes[attr]) for attr, hashes in parsed.hashes.items()
    }
    return out, old_codes
