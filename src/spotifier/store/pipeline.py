"""`spotifier ingest`: validate slices in worker processes, commit each slice in one transaction.

A slice is committed whole or not at all, together with its row in `slices` (file name + md5), so
a re-run skips what is done and a process killed mid-ingest loses nothing. Track, album and artist
indices are assigned in order of first appearance and never change afterwards.

One name per URI: inside a slice the first name seen is the reference (the worker rejects later
playlists that disagree); across slices the store's name is (the parent rejects the newcomers).
A pid already in the store makes the later playlist invalid (listed, the rest of its slice
loads). A slice that cannot be read at all is named in `IngestReport.rejected_files` and
skipped, the others load; `strict` stops at either and leaves the store as it was.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
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
from spotifier.store.columns import ParsedSlice, Unreadable
from spotifier.store.parsers import already_done, parsed_in_order, start_parsers
from spotifier.store.schema import connect, record_source_kind, record_source_root
from spotifier.store.vocabulary import KINDS as _KINDS
from spotifier.store.vocabulary import Vocabulary, compact, store_conflicts

INVALID_FILE = "invalid_playlists.jsonl"
CHECKPOINT_EVERY = "4GB"
EXAMPLES = 5


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
    con: duckdb.DuckDBPyConnection, vocabulary: Vocabulary, parsed: ParsedSlice
) -> tuple[ParsedSlice, dict[str, np.ndarray]]:
    """Cross-slice checks against the store: a pid already stored, or a URI named differently,
    rejects the playlist."""
    stored, rejected = store_conflicts(vocabulary, parsed)
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
    vocabulary = Vocabulary(con)
    with make_progress() as progress:
        task = progress.add_task(
            "ingest", total=report.slices_found, extra="", completed=report.slices_skipped
        )
        for _path, result in parsed_in_order(todo, known, pool, workers):
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
    skip = already_done(files, known, workers or cpu_count())
    report.slices_skipped = len(skip)
    todo = [path for path in files if path not in skip]
    workers = max(1, min(workers or cpu_count(), len(todo)))
    pool = start_parsers(workers)
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
