"""`spotifier ingest`: validate slices in worker processes, commit each slice in one transaction.

A slice is committed whole or not at all, together with its row in `slices` (file name + md5), so
a re-run skips what is done and a process killed mid-ingest loses nothing. Track, album and artist
indices are assigned in order of first appearance and never change afterwards.

One name per URI: inside a slice the first name seen is the reference (the worker rejects later
playlists that disagree); across slices the store's name is (the parent rejects the newcomers).
A pid already in the store is an error, not a skipped playlist: two slices claim the same pid.
"""

from __future__ import annotations

import ctypes
import hashlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from spotifier.errors import InvalidInputError, SpotifierError
from spotifier.home import Home
from spotifier.mpd.reader import iter_slice_files
from spotifier.mpd.validate import Violation
from spotifier.progress import cpu_count, make_progress
from spotifier.store import columns
from spotifier.store.columns import ParsedSlice, Unreadable, parse_or_report
from spotifier.store.schema import connect, record_source_kind, record_source_root

INVALID_FILE = "invalid_playlists.jsonl"
_PR_SET_PDEATHSIG = 1
CHECKPOINT_EVERY = "4GB"
EXAMPLES = 5

#: (table, index column, uri column, name column, slice table attribute) per kind of URI; each
#: table is named like the slice's attribute, and its index column like its URI column.
_KINDS = tuple(
    (attr, uri.removesuffix("_uri") + "_idx", uri, name, attr) for attr, uri, name in columns.KINDS
)


@dataclass
class IngestReport:
    """What an ingest did; `invalid_playlists` counts playlists skipped in this run."""

    source: str
    slices_found: int = 0
    slices_ingested: int = 0
    slices_skipped: int = 0
    playlists: int = 0
    entries: int = 0
    invalid_playlists: int = 0
    examples: list[str] = field(default_factory=list)
    info_problems: list[str] = field(default_factory=list)
    invalid_list: str | None = None
    #: files skipped whole (unreadable, or changed since they were ingested), with the reason
    rejected_files: list[str] = field(default_factory=list)
    megabytes: float = 0.0
    seconds: float = 0.0
    #: (file, md5, pids) of each slice this run committed: what strict mode undoes on failure
    committed: list[tuple[str, str, np.ndarray]] = field(default_factory=list, repr=False)

    @property
    def mb_per_s(self) -> float:
        return self.megabytes / self.seconds if self.seconds > 0 else 0.0

    def merge(self, other: IngestReport) -> None:
        """Add another run's counts (one `spotifier ingest` over several paths)."""
        for name in ("slices_found", "slices_ingested", "slices_skipped", "playlists"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.entries += other.entries
        self.invalid_playlists += other.invalid_playlists
        self.examples = (self.examples + other.examples)[:EXAMPLES]
        self.info_problems += other.info_problems
        self.invalid_list = self.invalid_list or other.invalid_list
        self.rejected_files += other.rejected_files
        self.megabytes += other.megabytes

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "committed"}
        return {**out, "mb_per_s": round(self.mb_per_s, 1)}


def _already_done(files: list[Path], known: dict[str, str], workers: int) -> set[Path]:
    """Files whose name and md5 are in the slice registry (hashed in threads: no parsing)."""
    candidates = [path for path in files if path.name in known]

    def same(path: Path) -> bool:
        digest = hashlib.md5()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)  # hashlib releases the GIL: threads hash in parallel
        return digest.hexdigest() == known[path.name]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return {p for p, done in zip(candidates, pool.map(same, candidates), strict=True) if done}


def _ready() -> None:
    """A no-op: running it makes the pool start its processes."""


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def die_with_parent(parent: int) -> None:
    """Make this worker process end when its parent does, however the parent ends (`kill -9`
    and SIGTERM included): Linux's parent-death signal, and a watcher thread where that is
    missing. Without it, killed ingests left their parsers running, reparented to init."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _start_parsers(workers: int) -> ProcessPoolExecutor | None:
    """Parser processes, started now: before DuckDB starts threads in this process (fork is
    then safe, and unlike spawn it needs no `if __name__ == "__main__"` guard in scripts)."""
    if workers <= 1:
        return None
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
    for future in [pool.submit(_ready) for _ in range(workers)]:
        future.result()
    return pool


Parsed = ParsedSlice | str | Unreadable


def _parsed_in_order(
    files: list[Path], known: dict[str, str], pool: ProcessPoolExecutor | None, ahead: int
) -> Iterator[tuple[Path, Parsed]]:
    """Each file's parse result in file order, parsing up to `ahead` files ahead in `pool`."""
    if pool is None:
        for path in files:
            yield path, parse_or_report(str(path), known.get(path.name))
        return
    pending: deque[tuple[Path, Future[Parsed]]] = deque()
    for path in files:
        if len(pending) > ahead:
            done_path, future = pending.popleft()
            yield done_path, future.result()
        pending.append((path, pool.submit(parse_or_report, str(path), known.get(path.name))))
    while pending:
        done_path, future = pending.popleft()
        yield done_path, future.result()


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


class _Vocabulary:
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
        for table, idx, uri, name, attr in _KINDS:
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
        for *_, attr in _KINDS:
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


def _store_conflicts(
    vocabulary: _Vocabulary, parsed: ParsedSlice
) -> tuple[dict[str, np.ndarray], list[tuple[int | None, list[Violation]]]]:
    """Stored indices per kind, and playlists that name a known URI differently (rejected)."""
    stored: dict[str, np.ndarray] = {}
    bad: dict[str, np.ndarray] = {}
    for table, idx, uri, name, attr in _KINDS:
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
    for table, _, uri, name, attr in _KINDS:
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


def _insert(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    con.register("_rows", data)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows").fetchall()
    finally:
        con.unregister("_rows")


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0]
    return int(row[0]) if row else 0


def _write_slice(
    con: duckdb.DuckDBPyConnection, parsed: ParsedSlice, stored: dict[str, np.ndarray]
) -> None:
    """Insert one slice's rows (inside the caller's transaction)."""
    index: dict[str, np.ndarray] = {}
    for table, idx, uri, name, attr in _KINDS:
        local: pa.Table = getattr(parsed, attr)
        mapping = stored[attr].copy()
        new = mapping < 0
        mapping[new] = _count(con, table) + np.arange(int(new.sum()))
        index[attr] = mapping
        if not new.any():
            continue
        mask = pa.array(new)
        columns: dict[str, Any] = {
            idx: mapping[new].astype(np.int32),
            uri: local[uri].filter(mask),
            name: local[name].filter(mask),
        }
        if attr == "albums":
            columns["artist_idx"] = index["artists"][local["artist"].to_numpy()[new]].astype(
                np.int32
            )
        if attr == "tracks":
            columns["artist_idx"] = index["artists"][local["artist"].to_numpy()[new]].astype(
                np.int32
            )
            columns["album_idx"] = index["albums"][local["album"].to_numpy()[new]].astype(np.int32)
            columns["duration_ms"] = local["duration_ms"].filter(mask)
        _insert(con, table, pa.table(columns))
    _insert(con, "playlists", parsed.playlists)
    pids = parsed.playlists["pid"].to_numpy()
    entries = {
        "pid": pids[parsed.entry_row],
        "pos": parsed.entry_pos,
        "track_idx": index["tracks"][parsed.entry_track].astype(np.int32),
    }
    _insert(con, "entries", pa.table(entries))
    con.execute(
        "INSERT INTO slices VALUES (?, ?, ?, ?)",
        [parsed.file, parsed.md5, parsed.n_playlists, datetime.now(UTC).replace(tzinfo=None)],
    ).fetchall()
    record_source_kind(con, "mpd")


def _prepare(
    con: duckdb.DuckDBPyConnection, vocabulary: _Vocabulary, parsed: ParsedSlice
) -> tuple[ParsedSlice, dict[str, np.ndarray]]:
    """Cross-slice checks against the store: a pid already stored, or a URI named differently,
    rejects the playlist."""
    stored, rejected = _store_conflicts(vocabulary, parsed)
    pids = parsed.playlists["pid"].to_numpy()
    for pid in pids[vocabulary.stored_pids(pids)].tolist():
        problem = Violation(parsed.file, int(pid), "pid", "already in the store (another slice)")
        rejected.append((None, [problem]))
    if not rejected:
        return parsed, stored
    bad_pids = {v[0].pid for _, v in rejected}
    keep = np.flatnonzero([int(p) not in bad_pids for p in pids])
    smaller, old_codes = compact(parsed, keep)
    smaller.rejected = parsed.rejected + rejected
    return smaller, {attr: stored[attr][old] for attr, old in old_codes.items()}


def _commit(con: duckdb.DuckDBPyConnection, parsed: ParsedSlice, stored: dict[str, Any]) -> None:
    con.begin()
    try:
        _write_slice(con, parsed, stored)
        con.commit()
    except BaseException:
        con.rollback()
        raise


def _undo(
    con: duckdb.DuckDBPyConnection,
    done: list[tuple[str, str, np.ndarray]],
    base: dict[str, int],
) -> None:
    """Remove what this run committed (strict mode's 'store unchanged' on failure)."""
    if not done:
        return
    pids = pa.table({"pid": np.concatenate([pids for _, _, pids in done])})
    con.begin()
    con.register("_undo", pids)
    con.execute("DELETE FROM entries WHERE pid IN (SELECT pid FROM _undo)").fetchall()
    con.execute("DELETE FROM playlists WHERE pid IN (SELECT pid FROM _undo)").fetchall()
    con.unregister("_undo")
    for table, idx, *_ in _KINDS:
        con.execute(f"DELETE FROM {table} WHERE {idx} >= ?", [base[table]]).fetchall()
    for file, md5, _ in done:
        con.execute("DELETE FROM slices WHERE file = ? AND md5 = ?", [file, md5]).fetchall()
    con.commit()


def _first_problem(parsed: ParsedSlice) -> Violation | None:
    if parsed.info_problems:
        return parsed.info_problems[0]
    return parsed.rejected[0][1][0] if parsed.rejected else None


def _append_invalid(path: Path, parsed: ParsedSlice) -> None:
    with path.open("ab") as fh:
        for index, problems in parsed.rejected:
            line = {
                "file": parsed.file,
                "index": index,
                "pid": problems[0].pid,
                "violations": [{"field": v.field, "message": v.message} for v in problems],
            }
            fh.write(orjson.dumps(line) + b"\n")


def _load(
    con: duckdb.DuckDBPyConnection,
    todo: list[Path],
    known: dict[str, str],
    pool: ProcessPoolExecutor | None,
    workers: int,
    strict: bool,
    report: IngestReport,
    invalid_path: Path,
    start: float,
) -> None:
    """Commit each parsed slice in order, updating the report and the progress bar."""
    vocabulary = _Vocabulary(con)
    with make_progress() as progress:
        task = progress.add_task(
            "ingest", total=report.slices_found, extra="", completed=report.slices_skipped
        )
        for _path, result in _parsed_in_order(todo, known, pool, workers):
            progress.advance(task)
            if isinstance(result, str):
                report.slices_skipped += 1
                continue
            problem = (
                result.message
                if isinstance(result, Unreadable)
                else f"{result.file}: changed since it was ingested (md5 {result.md5}, the "
                f"store has {known[result.file]}); ingest the new version into a fresh home"
                if result.file in known
                else None
            )
            if problem is not None:
                if strict:
                    raise InvalidInputError(f"{problem} (--strict: nothing was ingested)")
                report.rejected_files.append(problem)  # skipped whole; the others load
                continue
            assert not isinstance(result, Unreadable)
            parsed, stored = _prepare(con, vocabulary, result)
            first = _first_problem(parsed)
            if strict and first is not None:
                raise InvalidInputError(f"{first} (--strict: nothing was ingested)")
            _commit(con, parsed, stored)
            vocabulary.add(parsed, stored)
            report.committed.append((parsed.file, parsed.md5, parsed.playlists["pid"].to_numpy()))
            if parsed.rejected:
                _append_invalid(invalid_path, parsed)
                report.invalid_list = str(invalid_path)
            report.slices_ingested += 1
            report.playlists += parsed.n_playlists
            report.entries += len(parsed.entry_track)
            report.invalid_playlists += len(parsed.rejected)
            for _, problems in parsed.rejected:
                if len(report.examples) < EXAMPLES:
                    report.examples.append(str(problems[0]))
            report.info_problems.extend(str(v) for v in parsed.info_problems)
            report.megabytes += parsed.nbytes / 1e6
            report.seconds = time.perf_counter() - start
            progress.update(
                task,
                extra=f"{report.megabytes:,.0f} MB · {report.mb_per_s:,.0f} MB/s · "
                f"{report.playlists:,} playlists",
            )


def ingest(
    home: Home | str | Path,
    mpd_dir: str | Path,
    strict: bool = False,
    workers: int | None = None,
) -> IngestReport:
    """Validate and load the slices at `mpd_dir` into `home/store.duckdb`.

    Already-committed slices (same file name and md5) are skipped. `strict` stops at the first
    invalid playlist with `InvalidInputError` and leaves the store as it was before this call;
    otherwise invalid playlists are skipped, counted and listed in `home/invalid_playlists.jsonl`.
    """
    home = home if isinstance(home, Home) else Home.resolve(home)
    mpd_dir = Path(mpd_dir)
    files = iter_slice_files(mpd_dir)
    fresh = not home.store_path.exists()
    report = IngestReport(source=str(mpd_dir), slices_found=len(files))
    with connect(home, read_only=False) as con:
        base = {table: _count(con, table) for table, *_ in _KINDS}
        known = dict(con.execute("SELECT file, md5 FROM slices").fetchall())
    invalid_path = home.root / INVALID_FILE
    if fresh:
        invalid_path.unlink(missing_ok=True)
    start = time.perf_counter()
    skip = _already_done(files, known, workers or cpu_count())
    report.slices_skipped = len(skip)
    todo = [path for path in files if path not in skip]
    workers = max(1, min(workers or cpu_count(), len(todo)))
    pool = _start_parsers(workers)
    try:
        con = connect(home, read_only=False)
        # Checkpoint once at the end, not every ~16 MB of WAL (which re-wrote table blocks each
        # few slices: half the parent's commit time). A killed run replays its WAL on next open.
        con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_EVERY}'").fetchall()
        try:
            _load(con, todo, known, pool, workers, strict, report, invalid_path, start)
        except BaseException:
            if strict:
                _undo(con, report.committed, base)
            con.close()
            if strict and fresh:  # the home had no store: leave none behind, not an empty one
                for path in (
                    home.store_path,
                    home.store_path.with_name(home.store_path.name + ".wal"),
                ):
                    path.unlink(missing_ok=True)
            raise
        report.seconds = time.perf_counter() - start
        con.execute("CHECKPOINT").fetchall()
        con.close()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    record_source_root(home, mpd_dir)
    return report


__all__ = ["INVALID_FILE", "IngestReport", "SpotifierError", "compact", "ingest"]
