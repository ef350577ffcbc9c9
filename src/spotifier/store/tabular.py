"""Tabular ingest, part 4: files -> the store, one file per transaction.

Each file is committed whole, with its row in `slices` (file name + md5): a re-run skips files
already ingested (by md5), and a run killed mid-file loses nothing (DuckDB rolls the open
transaction back). With `strict`, every file goes into one transaction that is rolled back at
the first invalid row, so the store is left exactly as it was. What a file's rows become in the
store (ids, names, positions) is `tabular_write`'s; the invalid rows are listed here, with the
line or record number a user finds them at.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import duckdb
import numpy as np

from spotifier.errors import InvalidInputError, SpotifierError
from spotifier.home import Home
from spotifier.store.pipeline import IngestReport
from spotifier.store.tabular_map import Source, resolve_columns
from spotifier.store.tabular_rows import (
    clear_rejects,
    column_types,
    drop_rows,
    read_rows,
    rejected_lines,
)
from spotifier.store.tabular_write import write_checked

EXAMPLES = 5


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _row_labels(rows: np.ndarray, source: Source, rejected: list[tuple[int, str]]) -> np.ndarray:
    """The number users see for each row: its line for CSV/TSV (the header is line 1, lines
    the reader set aside counted) and JSON Lines, its record number (from 1) otherwise."""
    if source.format in ("csv", "tsv"):
        bad = np.array(sorted(line for line, _ in rejected), dtype=np.int64)
        # the k-th valid record (k from 0) sits on line k + 2 plus the set-aside lines before it
        shifted = bad - 2 - np.arange(len(bad))
        k = rows - 1
        return k + 2 + np.searchsorted(shifted, k, side="right")
    return rows


def list_invalid(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    rejected: list[tuple[int, str]],
    out: Path,
    report: IngestReport,
) -> int:
    """Append the file's invalid rows to `out` (one JSON object per row: file, row, playlist,
    field, message); returns how many."""
    got = con.execute("SELECT _row, key, why FROM _bad ORDER BY _row").fetchall()
    labels = _row_labels(np.array([r[0] for r in got], dtype=np.int64), source, rejected)
    problems: list[tuple[int, str | None, str]] = [
        (int(label), key, why) for label, (_, key, why) in zip(labels.tolist(), got, strict=True)
    ]
    problems += [(line, None, f"row: {message}") for line, message in rejected]
    problems.sort(key=lambda p: p[0])
    if not problems:
        return 0
    import orjson

    unit = "line" if source.format in ("csv", "tsv", "jsonl") else "row"
    with out.open("ab") as fh:
        for number, key, why in problems:
            field, _, message = why.partition(": ")
            record = {"file": source.path.name, unit: number, "row": number, "playlist": key}
            fh.write(orjson.dumps({**record, "field": field, "message": message}) + b"\n")
    for number, key, why in problems[: max(0, EXAMPLES - len(report.examples))]:
        where = f"{source.path.name}: {unit} {number}"
        report.examples.append(f"{where}: {why}" if key is None else f"{where} ({key}): {why}")
    return len(problems)


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    maps: dict[str, tuple[str, ...]],
    md5: str,
    strict: bool,
    invalid_path: Path,
    report: IngestReport,
) -> None:
    """Read, check and (unless strict finds a problem) write one file, in the caller's
    transaction."""
    clear_rejects(con)
    try:
        types = column_types(con, source)
        cols = resolve_columns(list(types), maps, source.path.name)
        read_rows(con, source, cols, types)
        rejected = rejected_lines(con)
        if strict:
            _strict_check(con, source, rejected)
        positions = "list" if "tracks" in cols else "given" if "position" in cols else "rows"
        playlists, entries = write_checked(con, source.path.name, md5, positions)
        if strict:
            _strict_check(con, source, rejected)
        invalid = list_invalid(con, source, rejected, invalid_path, report)
        drop_rows(con)  # (after a failure, the caller's rollback drops them)
    except duckdb.Error as exc:
        raise InvalidInputError(f"{source.path}: cannot read as {source.format} ({exc})") from exc
    if invalid:
        report.invalid_list = str(invalid_path)
    report.invalid_playlists += invalid
    report.playlists += playlists
    report.entries += entries
    report.slices_ingested += 1
    report.megabytes += source.path.stat().st_size / 1e6


def _strict_check(
    con: duckdb.DuckDBPyConnection, source: Source, rejected: list[tuple[int, str]]
) -> None:
    """With --strict, the file's first invalid row is the error."""
    first = con.execute("SELECT _row, why FROM _bad ORDER BY _row LIMIT 1").fetchone()
    found = [(line, f"row: {message}") for line, message in rejected[:1]]
    if first is not None:
        label = _row_labels(np.array([first[0]], dtype=np.int64), source, rejected)[0]
        found.append((int(label), str(first[1])))
    if found:
        number, why = min(found)
        raise InvalidInputError(
            f"{source.path.name}: row {number}: {why} (--strict: nothing was ingested)"
        )


def ingest_tables(
    con: duckdb.DuckDBPyConnection,
    sources: list[Source],
    maps: dict[str, tuple[str, ...]],
    strict: bool,
    invalid_path: Path,
    report: IngestReport,
) -> None:
    """Load every tabular source not yet in the store (see the module docstring)."""
    from spotifier.progress import make_progress

    known = {str(r[0]) for r in con.execute("SELECT md5 FROM slices").fetchall()}
    start = time.perf_counter()
    if strict:
        con.begin()
    try:
        with make_progress() as progress:
            task = progress.add_task("ingest", total=len(sources), extra="")
            for source in sources:
                progress.advance(task)
                try:
                    md5 = file_md5(source.path)
                except OSError as exc:
                    _unreadable(report, source, f"cannot read ({exc})", strict)
                    continue
                if md5 in known:
                    report.slices_skipped += 1
                    continue
                if strict:
                    ingest_file(con, source, maps, md5, strict, invalid_path, report)
                else:
                    _one_transaction(con, source, maps, md5, invalid_path, report)
                known.add(md5)
                report.seconds = time.perf_counter() - start
                progress.update(
                    task, extra=f"{report.playlists:,} playlists · {report.entries:,} entries"
                )
        if strict:
            con.commit()
    except BaseException:
        if strict:
            con.rollback()
        raise


def _one_transaction(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    maps: dict[str, tuple[str, ...]],
    md5: str,
    invalid_path: Path,
    report: IngestReport,
) -> None:
    con.begin()
    try:
        ingest_file(con, source, maps, md5, False, invalid_path, report)
        con.commit()
    except InvalidInputError as exc:
        con.rollback()
        if "--map" in str(exc) or "no playlist id column" in str(exc) or "no track" in str(exc):
            raise  # a mapping error is the user's to fix for every file, not one file's damage
        _unreadable(report, source, str(exc).removeprefix(f"{source.path}: "), strict=False)
    except BaseException:
        con.rollback()
        raise


def _unreadable(report: IngestReport, source: Source, why: str, strict: bool) -> None:
    if strict:
        raise SpotifierError(f"{source.path}: {why} (--strict: nothing was ingested)")
    report.rejected_files.append(f"{source.path}: {why}")


def ingest_paths(
    home: Home | str | Path,
    paths: list[Path],
    fmt: str | None = None,
    maps: dict[str, tuple[str, ...]] | None = None,
    strict: bool = False,
    workers: int | None = None,
) -> IngestReport:
    """`spotifier ingest PATH...`: MPD slices through the MPD pipeline, every other file here.

    Invalid rows and playlists are skipped and listed in `home/invalid_playlists.jsonl`; a file
    that cannot be read is skipped and named in `report.rejected_files` (with `strict`, either
    stops the ingest and leaves the store unchanged).
    """
    from spotifier.store.pipeline import INVALID_FILE, ingest
    from spotifier.store.schema import connect, record_source_root
    from spotifier.store.tabular_map import find_sources

    home = home if isinstance(home, Home) else Home.resolve(home)
    sources = find_sources([Path(p) for p in paths], fmt)
    report = IngestReport(source=", ".join(str(p) for p in paths))
    start = time.perf_counter()
    for source in (s for s in sources if s.format == "mpd"):
        part = ingest(home, source.path, strict=strict, workers=workers)
        report.merge(part)
    tables = [s for s in sources if s.format != "mpd"]
    if tables:
        fresh = not home.store_path.exists()
        invalid_path = home.root / INVALID_FILE
        with connect(home, read_only=False) as con:
            if fresh:
                invalid_path.unlink(missing_ok=True)
            report.slices_found += len(tables)
            try:
                ingest_tables(con, tables, maps or {}, strict, invalid_path, report)
            except BaseException:
                con.close()
                if strict and fresh:  # leave no empty store behind
                    for path in (home.store_path, Path(f"{home.store_path}.wal")):
                        path.unlink(missing_ok=True)
                raise
            con.execute("CHECKPOINT").fetchall()
        record_source_root(home, tables[0].path)
    report.seconds = time.perf_counter() - start
    return report


__all__ = ["ingest_paths", "ingest_tables"]
