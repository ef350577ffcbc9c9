"""Errors a user can act on, and the exit codes of the `spotifier` command (defined only here).

The CLI prints an error's message as one line on stderr and exits with its code; the README's
"Exit codes" table lists the same codes.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a `spotifier` exit status means (the README's table; scripts may rely on them)."""

    OK = 0
    #: The command ran and found a problem (e.g. `verify` lists faults), a general failure, or
    #: stdout closed early (piped into `head`; silent, as click does it).
    FAILED = 1
    #: Bad input: a usage error, an invalid argument, file, playlist or setting.
    BAD_INPUT = 2
    #: Something the command needs (store, split, model, file) does not exist yet.
    NOT_FOUND = 3
    #: An optional dependency is not installed; the message names the extra.
    MISSING_EXTRA = 4
    #: `ingest` loaded what it could, but some input file was unreadable and skipped (listed).
    PARTIAL = 5
    #: A stored file is damaged (the store or a saved model): rebuild it as the message says.
    DAMAGED = 6
    #: The file system refused: permission denied, read-only home, disk full, a folder for a file.
    FILESYSTEM = 7
    #: A bug: an unexpected exception (`SPOTIFIER_DEBUG=1` shows its traceback).
    INTERNAL = 70
    #: Interrupted by Ctrl-C (128 + SIGINT).
    INTERRUPTED = 130
    #: Stopped by `kill` (128 + SIGTERM), after removing what it had half-written.
    TERMINATED = 143


class SpotifierError(Exception):
    """Base class: the message names the file, playlist or field at fault."""

    exit_code: int = ExitCode.FAILED


class InvalidInputError(SpotifierError):
    """A file, playlist, field or argument does not satisfy the documented format."""

    exit_code = ExitCode.BAD_INPUT


class NotFoundError(SpotifierError):
    """Something the command needs (store, split, model, file) does not exist yet."""

    exit_code = ExitCode.NOT_FOUND


class MissingExtraError(SpotifierError):
    """An optional dependency is not installed; the message names the extra to install."""

    exit_code = ExitCode.MISSING_EXTRA

    def __init__(self, package: str, extra: str, what: str = "this") -> None:
        super().__init__(f"{what} needs the '{package}' package: pip install 'spotifier[{extra}]'")


class DamagedFileError(SpotifierError):
    """A stored file (the store, a saved model) cannot be read; the message says how to rebuild."""

    exit_code = ExitCode.DAMAGED


class DamagedModelError(DamagedFileError):
    """A saved model's file is missing, truncated or not what the model saved; names the file."""

    def __init__(self, file: object, problem: str, hint: str = "train the model again") -> None:
        self.file, self.problem = file, problem
        super().__init__(f"{file} {problem}; {hint}")

    def with_hint(self, hint: str) -> DamagedModelError:
        return DamagedModelError(self.file, self.problem, hint)


class FileSystemError(SpotifierError):
    """The file system refused a read or write (permissions, read-only home, disk full)."""

    exit_code = ExitCode.FILESYSTEM


def require(module: str, extra: str) -> object:
    """Import an optional module, or raise MissingExtraError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(module.split(".")[0], extra) from exc
