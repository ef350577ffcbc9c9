"""Every way a command can fail, as one line on stderr and an exit code (`errors.ExitCode`).

`SpotifierError`s carry their own message and code. The file system's errors (`OSError`: a
read-only home, permission denied, disk full, a folder where a file belongs) and DuckDB's (a
damaged store) are named here, with what to do. Anything else is a bug: one "internal error"
line, and the traceback only with `SPOTIFIER_DEBUG=1`.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from spotifier.errors import ExitCode, SpotifierError

#: What to do about each file-system error, by errno.
_OS_ADVICE = {
    errno.EACCES: "permission denied; fix its permissions or choose another path",
    errno.EPERM: "operation not permitted; fix its permissions or choose another path",
    errno.EROFS: "the file system is read-only; choose a writable path",
    errno.ENOSPC: "no space left on the disk; free some space and run the command again",
    errno.EDQUOT: "disk quota exceeded; free some space and run the command again",
    errno.EISDIR: "is a folder; give a file path",
    errno.ENOTDIR: "a part of this path is a file, not a folder; fix the path",
    errno.ENOENT: "does not exist; check the path",
    errno.EEXIST: "already exists; remove it or choose another path",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter path",
    errno.ELOOP: "too many symbolic links (a link loop?); fix the path",
    errno.EMFILE: "too many open files; raise the limit (ulimit -n) and run it again",
    errno.EIO: "input/output error: the disk may be failing; check it and run it again",
    errno.EADDRINUSE: "the address is in use by another program; choose another --port",
    errno.EADDRNOTAVAIL: "this machine has no such address; check --host",
}
_NO_WRITE = (errno.EACCES, errno.EPERM, errno.EROFS)


def debug() -> bool:
    """Whether `SPOTIFIER_DEBUG` asks for tracebacks (any value but empty or 0)."""
    return os.environ.get("SPOTIFIER_DEBUG", "") not in ("", "0")


def os_error_line(exc: OSError, home: Path | None = None) -> str:
    """One line for a file-system error: the file, what went wrong, what to do.

    >>> import errno
    >>> denied = PermissionError(errno.EACCES, "Permission denied", "/h/models/x")
    >>> os_error_line(denied, Path("/h")).split(";")[0]
    'cannot write /h/models/x: the home folder /h is read-only for you'
    >>> os_error_line(IsADirectoryError(errno.EISDIR, "Is a directory", "out.csv"))
    'out.csv: is a folder; give a file path'
    """
    name = exc.filename
    if exc.errno in _NO_WRITE and name is not None and home is not None:
        path = Path(os.fsdecode(name))
        if path == home or home in path.parents:
            return (
                f"cannot write {path}: the home folder {home} is read-only for you; "
                "use a writable --home or fix its permissions"
            )
    advice = _OS_ADVICE.get(exc.errno) if exc.errno is not None else None
    if advice is None:
        advice = exc.strerror or str(exc) or type(exc).__name__
    if name is None:
        return advice
    return f"{os.fsdecode(name)}: {advice}"


def os_error_code(exc: OSError) -> ExitCode:
    return ExitCode.NOT_FOUND if exc.errno == errno.ENOENT else ExitCode.FILESYSTEM


def describe(exc: BaseException, home: Path | None = None) -> tuple[str, int]:
    """The one line (without the "error: " prefix) and exit code for an exception."""
    if isinstance(exc, SpotifierError):
        return str(exc), int(exc.exit_code)
    if isinstance(exc, OSError):
        return os_error_line(exc, home), int(os_error_code(exc))
    if isinstance(exc, MemoryError):
        return (
            "out of memory; try a smaller sample, fewer workers or a machine with more memory",
            int(ExitCode.FAILED),
        )
    duckdb_error = _duckdb_error_type()
    if duckdb_error is not None and isinstance(exc, duckdb_error):
        from spotifier.store.damage import store_error

        store = (home or Path("spotifier-home")) / "store.duckdb"
        mapped = store_error(store, exc)
        return str(mapped), int(mapped.exit_code)
    detail = str(exc).strip().splitlines()
    shown = f"{type(exc).__name__}: {detail[0]}" if detail else type(exc).__name__
    return (
        f"internal error: {shown} (set SPOTIFIER_DEBUG=1 for the traceback)",
        int(ExitCode.INTERNAL),
    )


def _duckdb_error_type() -> type[BaseException] | None:
    import sys

    module = sys.modules.get("duckdb")  # not loaded: no DuckDB error can have happened
    error = getattr(module, "Error", None)
    return error if isinstance(error, type) else None
