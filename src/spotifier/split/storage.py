"""Build, save and load splits in `home/splits/<name>/`.

A split folder holds `challenge_set.json` (the official format; pids are the store's int pids
of the held-out playlists), `truth.json` (held-out track ids per pid), `playlist_ids.json` (each
pid's external playlist id, so own playlists map back), `cases.npz` (the same cases as track
indices) and `meta.json`. Training data is recomputed from the store: every playlist, with
the held-out tracks of the held-out playlists removed (and, for the hide-first protocol, only
the sampled playlists).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from spotifier.data import Catalog, Interactions, Query, TrainingData
from spotifier.errors import DamagedFileError, InvalidInputError, NotFoundError
from spotifier.home import Home, atomic_dir
from spotifier.split.categories import BY_NUMBER, CATEGORIES, Category
from spotifier.split.sampling import Case, hide_first_case, sample_challenge
from spotifier.store.fields import describe_absent

PROTOCOLS = ("challenge", "hide-first")
DEFAULT_SPLIT = "default"
HIDE_FIRST_SPLIT = "hide-first"


@dataclass(frozen=True, eq=False)
class Split:
    """A built split: its cases (queries + truth as track indices) and what built it."""

    name: str
    protocol: str
    cases: list[Case]
    meta: dict[str, Any]
    training_rows: np.ndarray | None  # None = every stored playlist
    playlist_ids: dict[int, str] = field(default_factory=dict)  # pid -> external id

    def playlist_id(self, pid: int) -> str:
        """The external id of held-out playlist `pid` (the pid as text for older splits)."""
        return self.playlist_ids.get(pid, str(pid))


# --------------------------------------------------------------------------- planning (pure)
def challenge_plan(interactions: Interactions) -> tuple[tuple[Category, ...], bool, str | None]:
    """(the categories the data allows, whether title categories must pick titled playlists,
    a one-line note for the user or None).

    Without any title the eight title categories are impossible; with some playlists untitled,
    those categories take titled playlists only.

    >>> plan = challenge_plan(Interactions.from_lists([[0, 1]] * 3, 2))
    >>> [c.number for c in plan[0]], plan[1], plan[2]
    ([4, 6], False, 'no titles in this data: only categories 4 and 6 (no title) are held out')
    """
    titled = sum(1 for t in interactions.titles.tolist() if t)
    if titled == 0 and interactions.n_playlists:
        kept = tuple(c for c in CATEGORIES if not c.has_title)
        built = " and ".join(str(c.number) for c in kept)
        note = f"{describe_absent('title')}: only categories {built} (no title) are held out"
        return kept, False, note
    if titled < interactions.n_playlists:
        untitled = interactions.n_playlists - titled
        return CATEGORIES, True, f"{untitled} playlists have no title: title categories skip them"
    return CATEGORIES, False, None


def challenge_cases(interactions: Interactions, n_playlists: int, seed: int) -> list[Case]:
    """`n_playlists` held-out cases (a multiple of 10), equal counts in the categories the data
    allows (`challenge_plan`: the ten, or the two without a title when there are no titles)."""
    if n_playlists < len(CATEGORIES) or n_playlists % len(CATEGORIES):
        raise InvalidInputError(
            f"--playlists must be a positive multiple of 10 (one share per category), "
            f"got {n_playlists}"
        )
    categories, titled_only, _ = challenge_plan(interactions)
    rows = np.arange(interactions.n_playlists)
    return sample_challenge(
        interactions,
        rows,
        seed,
        per_category=n_playlists // len(categories),
        strict=True,
        categories=categories,
        titled_only=titled_only,
    )


def hide_first_plan(
    interactions: Interactions, sample: int, seed: int
) -> tuple[list[Case], np.ndarray]:
    """The seed's protocol: a sample split 90/10 into bank/test, each test playlist's first
    track hidden. Returns (test cases, training rows = the whole sample, sorted).

    A playlist whose first track recurs later is never a test playlist (that track would be a
    seed, so no model could find it); it stays in the bank.
    """
    n = min(sample, interactions.n_playlists)
    if n < 10:
        raise InvalidInputError(f"hide-first needs at least 10 playlists, the store has {n}")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(interactions.n_playlists, size=n, replace=False))
    cases: list[Case] = []
    for row in rows[rng.permutation(n)]:
        if len(cases) == n // 10:
            break
        case = hide_first_case(interactions, int(row))
        if case is not None:
            cases.append(case)
    return sorted(cases, key=lambda c: c.row), rows


def training_interactions(
    interactions: Interactions, cases: list[Case], training_rows: np.ndarray | None = None
) -> Interactions:
    """`interactions` restricted to `training_rows` (all when None), with each case's playlist
    cut down to its seeds and its title blanked when the case hides it.

    >>> from spotifier.split.sampling import hide_first_case
    >>> inter = Interactions.from_lists([[0, 1, 2], [3, 4]], 5, titles=["a", "b"])
    >>> cut = training_interactions(inter, [hide_first_case(inter, 0)])
    >>> cut.playlist(0).tolist(), cut.playlist(1).tolist()
    ([1, 2], [3, 4])
    """
    keep = np.ones(interactions.n_entries, dtype=bool)
    titles = interactions.titles.copy()
    for case in cases:
        start, end = int(interactions.indptr[case.row]), int(interactions.indptr[case.row + 1])
        keep[start:end] = False
        keep[start + case.positions.astype(np.int64)] = True
        if case.category.isdigit() and not BY_NUMBER[int(case.category)].has_title:
            titles[case.row] = ""
    row_of_entry = np.repeat(np.arange(interactions.n_playlists), interactions.lengths())
    counts = np.bincount(row_of_entry[keep], minlength=interactions.n_playlists)
    indptr = np.zeros(interactions.n_playlists + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    cut = Interactions(
        indptr=indptr,
        tracks=interactions.tracks[keep],
        n_tracks=interactions.n_tracks,
        titles=titles,
        pids=interactions.pids.copy(),
    )
    return cut if training_rows is None else cut.subset(np.asarray(training_rows))


# --------------------------------------------------------------------------- files
def challenge_entry(case: Case, catalog: Catalog) -> dict[str, Any]:
    """The official challenge-set entry of an evaluation case (seeds with their original pos).

    A seed field the data lacks (own playlists without artists, albums, names or durations) is
    null: the official keys are all there, and nothing is invented.
    """
    tracks = []
    has_duration = len(catalog.track_duration_ms) == catalog.n_tracks
    for track, pos in zip(case.query.seeds.tolist(), case.positions.tolist(), strict=True):
        artist, album = int(catalog.track_artist[track]), int(catalog.track_album[track])
        duration = int(catalog.track_duration_ms[track]) if has_duration else 0
        tracks.append(
            {
                "pos": int(pos),
                "artist_name": catalog.artist_name(track) or None,
                "track_uri": str(catalog.track_uris[track]),
                "artist_uri": str(catalog.artist_uris[artist]) if artist >= 0 else None,
                "track_name": str(catalog.track_names[track]) or None,
                "album_uri": str(catalog.album_uris[album]) if album >= 0 else None,
                "duration_ms": duration if duration >= 0 else None,
                "album_name": catalog.album_name(track) or None,
            }
        )
    num_tracks = int(case.query.num_tracks or len(tracks) + len(case.truth))
    entry: dict[str, Any] = {}
    if case.query.name is not None:
        entry["name"] = case.query.name
    entry.update(
        num_holdouts=num_tracks - len(tracks),
        pid=case.pid,
        tracks=tracks,
        num_samples=len(tracks),
        num_tracks=num_tracks,
    )
    return entry


def write_split(
    home: Home,
    name: str,
    protocol: str,
    cases: list[Case],
    interactions: Interactions,
    catalog: Catalog,
    seed: int,
    training_rows: np.ndarray | None = None,
    extra_meta: dict[str, Any] | None = None,
    playlist_ids: np.ndarray | None = None,
) -> None:
    """Write the split folder atomically (challenge_set.json, truth.json, playlist_ids.json,
    cases.npz, meta.json). `playlist_ids[row]` is the external id of interactions row `row`
    (default: the pid as text)."""
    from spotifier.mpd.challenge import write_challenge_set

    uris = catalog.track_uris
    entries, truth, external = [], {}, {}
    for case in cases:
        entries.append(challenge_entry(case, catalog))
        truth[str(case.pid)] = [str(u) for u in uris[case.truth]]
        external[str(case.pid)] = (
            str(playlist_ids[case.row]) if playlist_ids is not None else str(case.pid)
        )
    counts: dict[str, int] = {}
    for case in cases:
        counts[case.category] = counts.get(case.category, 0) + 1
    training = training_interactions(interactions, cases, training_rows)
    fingerprint = TrainingData.from_catalog(training, catalog).fingerprint()
    meta = {
        "name": name,
        "protocol": protocol,
        "seed": seed,
        "playlists": len(cases),
        "categories": counts,
        "store": _store_shape(interactions),
        # Equals the `data_fingerprint` of every model trained on this split (see persist.save).
        "training_fingerprint": fingerprint,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **(extra_meta or {}),
    }
    seeds_indptr = np.zeros(len(cases) + 1, dtype=np.int64)
    np.cumsum([len(c.query.seeds) for c in cases], out=seeds_indptr[1:])
    truth_indptr = np.zeros(len(cases) + 1, dtype=np.int64)
    np.cumsum([len(c.truth) for c in cases], out=truth_indptr[1:])

    def flat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts).astype(np.int32) if parts else np.array([], np.int32)

    arrays = {
        "rows": np.array([c.row for c in cases], dtype=np.int64),
        "pids": np.array([c.pid for c in cases], dtype=np.int64),
        "categories": np.array([c.category for c in cases], dtype=str),
        "names": np.array([c.query.name or "" for c in cases], dtype=str),
        "num_tracks": np.array([c.query.num_tracks or 0 for c in cases], dtype=np.int64),
        "seeds_indptr": seeds_indptr,
        "seeds": flat([c.query.seeds for c in cases]),
        "positions": flat([c.positions for c in cases]),
        "truth_indptr": truth_indptr,
        "truth": flat([c.truth for c in cases]),
    }
    if training_rows is not None:
        arrays["training_rows"] = np.asarray(training_rows, dtype=np.int64)
    with atomic_dir(home.split_dir(name)) as tmp:
        write_challenge_set(tmp / "challenge_set.json", entries)
        (tmp / "truth.json").write_text(json.dumps(truth) + "\n")
        (tmp / "playlist_ids.json").write_text(json.dumps(external, ensure_ascii=False) + "\n")
        with open(tmp / "cases.npz", "wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def build_split(
    home: Home,
    name: str = DEFAULT_SPLIT,
    n_playlists: int = 10_000,
    seed: int = 0,
    protocol: str = "challenge",
) -> dict[str, Any]:
    """Build and save a split from the store; returns its meta (as written in meta.json).

    For the challenge protocol `n_playlists` is the number held out; for hide-first it is the
    sample size (90% bank, 10% test).
    """
    from spotifier import store
    from spotifier.progress import note

    if protocol not in PROTOCOLS:
        raise InvalidInputError(f"unknown protocol '{protocol}'; use one of {', '.join(PROTOCOLS)}")
    interactions = store.load_interactions(home)
    catalog = store.load_catalog(home)
    playlist_ids = store.load_playlist_ids(home)
    if protocol == "challenge":
        cap = (interactions.n_playlists // 10) // 10 * 10
        if n_playlists > cap:
            if cap < 10:
                raise InvalidInputError(
                    f"the store has {interactions.n_playlists} playlists; a challenge split "
                    "holds out at most 10% and needs at least 10 (one per category)"
                )
            note(
                f"[yellow]holding out {cap} playlists instead of {n_playlists}: at most 10% of "
                f"the {interactions.n_playlists} stored playlists[/]"
            )
            n_playlists = cap
        categories, _, title_note = challenge_plan(interactions)
        extra: dict[str, Any] = {}
        if title_note:
            note(f"[yellow]{title_note}[/]")
            extra["notes"] = [title_note]
        if len(categories) < len(CATEGORIES):
            extra["impossible_categories"] = {
                str(c.number): describe_absent("title") for c in CATEGORIES if c not in categories
            }
        cases = challenge_cases(interactions, n_playlists, seed)
        write_split(
            home, name, protocol, cases, interactions, catalog, seed, None, extra, playlist_ids
        )
    else:
        cases, rows = hide_first_plan(interactions, n_playlists, seed)
        extra = {"sample": len(rows)}
        if not any(interactions.titles.tolist()):
            title_note = (
                f"{describe_absent('title')}: test playlists are continued from their tracks"
            )
            note(f"[yellow]{title_note}[/]")
            extra["notes"] = [title_note]
        write_split(
            home, name, protocol, cases, interactions, catalog, seed, rows, extra, playlist_ids
        )
    return read_meta(home, name)


def read_meta(home: Home, name: str) -> dict[str, Any]:
    path = home.split_dir(name) / "meta.json"
    if not path.exists():
        raise NotFoundError(f"split '{name}' does not exist; run: spotifier split --name {name}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:  # not JSON, or not UTF-8
        raise _damaged(home, name, exc) from exc
    if not isinstance(meta, dict):
        raise _damaged(home, name, ValueError("meta.json is not an object"))
    return meta


def _damaged(home: Home, name: str, exc: BaseException) -> DamagedFileError:
    return DamagedFileError(
        f"split '{name}' in {home.split_dir(name)} is damaged ({type(exc).__name__}: {exc}); "
        f"build it again: spotifier split --name {name}"
    )


def load_split(home: Home, name: str = DEFAULT_SPLIT) -> Split:
    """The saved split `name`: its cases as queries and truth track indices.

    A damaged or incomplete split folder (a truncated `cases.npz`, a garbled JSON file) is one
    error that says to build the split again.
    """
    meta = read_meta(home, name)
    try:
        return _read_split(home, name, meta)
    except (FileNotFoundError, ValueError, KeyError, IndexError, TypeError, EOFError,
            zipfile.BadZipFile) as exc:  # fmt: skip
        raise _damaged(home, name, exc) from exc


def _read_split(home: Home, name: str, meta: dict[str, Any]) -> Split:
    ids_file = home.split_dir(name) / "playlist_ids.json"
    playlist_ids = (
        {int(pid): str(v) for pid, v in json.loads(ids_file.read_text()).items()}
        if ids_file.exists()
        else {}
    )
    with np.load(home.split_dir(name) / "cases.npz", allow_pickle=False) as npz:
        a = {key: npz[key] for key in npz.files}
    cases = []
    for i in range(len(a["rows"])):
        s0, s1 = a["seeds_indptr"][i], a["seeds_indptr"][i + 1]
        t0, t1 = a["truth_indptr"][i], a["truth_indptr"][i + 1]
        query = Query(
            seeds=a["seeds"][s0:s1],
            name=str(a["names"][i]) or None,
            positions=a["positions"][s0:s1],
            num_tracks=int(a["num_tracks"][i]) or None,
        )
        cases.append(
            Case(
                str(a["categories"][i]),
                query,
                a["truth"][t0:t1],
                int(a["rows"][i]),
                int(a["pids"][i]),
            )
        )
    return Split(name, str(meta["protocol"]), cases, meta, a.get("training_rows"), playlist_ids)


def load_training_interactions(home: Home, name: str = DEFAULT_SPLIT) -> Interactions:
    """All stored playlists minus the split's held-out tracks (the data models train on)."""
    from spotifier import store

    split = load_split(home, name)
    interactions = store.load_interactions(home)
    if _store_shape(interactions) != split.meta.get("store"):
        raise InvalidInputError(
            f"split '{name}' was built on different data than the store now holds; "
            f"rebuild it: spotifier split --name {name}"
        )
    return training_interactions(interactions, split.cases, split.training_rows)


def _store_shape(interactions: Interactions) -> dict[str, int]:
    return {
        "n_playlists": interactions.n_playlists,
        "n_entries": interactions.n_entries,
        "n_tracks": interactions.n_tracks,
    }
