"""Shared CLI plumbing: the home folder from the global option, JSON output."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import typer

from spotifier.errors import FileSystemError, InvalidInputError
from spotifier.home import Home
from spotifier.progress import SafeConsole

console = SafeConsole()

#: The home folder the running command resolved (named by error messages about its files).
_resolved: list[Home] = []


@dataclass
class State:
    #: `--home` as typed: a string, so that an empty one is caught rather than read as ".".
    home_option: str | None = None

    @property
    def home(self) -> Home:
        home = Home.resolve(self.home_option)
        _resolved[:] = [home]
        return home


def home_of(ctx: typer.Context, writes: bool = False) -> Home:
    """The resolved home folder for this invocation.

    A command that writes into the home says so (`writes=True`): a home the user cannot write
    then fails at once, not after an hour of training.
    """
    state = ctx.find_object(State)
    home = (state or State()).home
    if writes and not _can_write(_nearest_existing(home.root)):
        raise FileSystemError(
            f"the home folder {home.root} is read-only for you; use a writable --home or fix "
            "its permissions"
        )
    return home


def text_argument(value: str, option: str) -> str:
    """A text argument that is valid UTF-8 (bytes that are not arrive as surrogates, which JSON
    output, the store and the API's payloads cannot hold)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        shown = value.encode("utf-8", "backslashreplace").decode("ascii", "replace")
        raise InvalidInputError(f"{option} {shown[:80]!r}: not valid UTF-8") from exc
    return value


def output_file(path: Path, option: str) -> Path:
    """Check a file a command will write (`--out FILE`) before the command's long work starts.

    It must not be a folder, and its folder (created when missing) must be writable.
    """
    if path.is_dir():
        raise InvalidInputError(f"{option} {path}: is a folder; give a file path")
    _check_folder(path.parent, option, path)
    return path


def output_folder(path: Path, option: str) -> Path:
    """Check a folder a command will write into (`--out DIR`) before its long work starts."""
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"{option} {path}: is a file; give a folder")
    _check_folder(path, option, path)
    return path


def _check_folder(folder: Path, option: str, target: Path) -> None:
    text_argument(str(target), option)  # DuckDB cannot write to a path that is not UTF-8
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise InvalidInputError(f"{option} {target}: {existing} is a file, not a folder")
    if not _can_write(existing):
        raise FileSystemError(
            f"{option} {target}: cannot write in {existing} (permission denied or a read-only "
            "file system); choose a writable path"
        )


def _nearest_existing(path: Path) -> Path:
    path = path.expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _can_write(folder: Path) -> bool:
    """Whether new files can be made in `folder` (access(2) also reports a read-only mount)."""
    return not folder.is_dir() or os.access(folder, os.W_OK | os.X_OK)


def current_home() -> Path | None:
    """The home folder of the running command, once resolved (for error messages)."""
    return _resolved[0].root if _resolved else None


def print_json(obj: Any) -> None:
    """Machine-readable output on stdout (NaN/inf become null)."""
    sys.stdout.buffer.write(
        orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n"
    )
    sys.stdout.flush()
