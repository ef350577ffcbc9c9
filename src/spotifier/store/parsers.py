"""Ingest's parser processes: started before DuckDB's threads, dying with their parent, and
handing back each slice's parse in file order; plus the md5 check of already-ingested files."""

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
from pathlib import Path

from spotifier.store.columns import ParsedSlice, Unreadable, parse_or_report

_PR_SET_PDEATHSIG = 1


def already_done(files: list[Path], known: dict[str, str], workers: int) -> set[Path]:
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


def start_parsers(workers: int) -> ProcessPoolExecutor | None:
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


def parsed_in_order(
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
