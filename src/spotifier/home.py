"""The home folder: every artefact Spotifier writes lives under one directory.

Resolution order: the `--home` option, else `$SPOTIFIER_HOME`, else `./spotifier-home`.

    >>> h = Home(Path("/tmp/x"))
    >>> h.model_dir("als").as_posix()
    '/tmp/x/models/als'
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, TextIO, overload

from spotifier.errors import InvalidInputError

DEFAULT_HOME = "spotifier-home"


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> Home:
        """The home at `home`, else `$SPOTIFIER_HOME`, else `./spotifier-home`.

        An empty path is an error (not the current folder), and so is a path at, or inside, a
        file: both are typing mistakes that would otherwise fail later, or write somewhere odd.
        """
        if home is None:
            home = os.environ.get("SPOTIFIER_HOME") or DEFAULT_HOME
        if not os.fspath(home).strip():
            raise InvalidInputError(
                "--home: the path is empty; give a folder (it is created when missing)"
            )
        try:
            root = Path(home).expanduser().resolve()
        except RuntimeError as exc:  # Python 3.11 reports a symlink loop so; 3.13 as OSError
            raise InvalidInputError(f"home folder {home}: {exc}; fix the link") from exc
        try:
            str(root).encode("utf-8")
        except UnicodeEncodeError as exc:  # bytes that are not UTF-8, kept as surrogates
            raise InvalidInputError(
                f"home folder {root!s}: the path is not valid UTF-8, which the store (DuckDB) "
                "cannot open; rename the folder or choose another"
            ) from exc
        existing = root
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            where = "is" if existing == root else f"is inside {existing}, which is"
            raise InvalidInputError(
                f"home folder {root} {where} a file, not a folder; give --home a folder "
                "(it is created when missing)"
            )
        return cls(root)

    @property
    def store_path(self) -> Path:
        return self.root / "store.duckdb"

    @property
    def matrices_dir(self) -> Path:
        return self.root / "matrices"

    @property
    def splits_dir(self) -> Path:
        return self.root / "splits"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    @property
    def reports_dir(self) -> Path:
        return self.root / "report"

    @property
    def generated_dir(self) -> Path:
        """Where `spotifier demo` writes its generated world."""
        return self.root / "generated"

    def split_dir(self, name: str) -> Path:
        return self.splits_dir / folder_name(name, "split name")

    def model_dir(self, name: str, split: str | None = None) -> Path:
        """A saved model's folder; models trained on a split live under `models/<split>/<name>`."""
        name = folder_name(name, "model name")
        if split is None:
            return self.models_dir / name
        return self.models_dir / folder_name(split, "split name") / name

    def ensure(self) -> Home:
        self.root.mkdir(parents=True, exist_ok=True)
        return self


#: A name that becomes one folder in the home: no separators, no "..", not hidden (temporary
#: folders are ".NAME.XXXX"), not empty (`--split ""` would name the `splits/` folder itself).
_FOLDER_NAME = re.compile(r"[^\W_][\w.-]{0,99}")


def folder_name(name: str, what: str) -> str:
    """`name` if it is safe as one folder inside the home, else one error saying what is allowed.

    >>> folder_name("default", "split name")
    'default'
    >>> folder_name("../etc", "split name")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spotifier.errors.InvalidInputError: split name '../etc': use letters, digits, ...
    """
    if not _FOLDER_NAME.fullmatch(name):
        raise InvalidInputError(
            f"{what} {name!r}: use letters, digits, '.', '-' and '_', starting with a letter or "
            "digit (at most 100)"
        )
    return name


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces `target` in one rename.

    Nothing half-written is ever visible at `target`: on error the temporary folder is removed
    and the previous `target` (if any) is left untouched.
    """
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    old = target.with_name(f".{target.name}.old")
    moved = False
    try:
        yield tmp
        umask = os.umask(0)  # mkdtemp makes the folder 0700; give it the usual permissions
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        if target.exists():
            if old.exists():
                shutil.rmtree(old)
            target.rename(old)
            moved = True
        tmp.rename(target)
    except BaseException:
        # Interrupted between the two renames (Ctrl-C, `kill`): put the previous target back.
        if moved and not target.exists():
            old.rename(target)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if moved:
        shutil.rmtree(old, ignore_errors=True)


@overload
def atomic_file(target: Path, mode: Literal["wb"] = "wb") -> AbstractContextManager[BinaryIO]: ...
@overload
def atomic_file(target: Path, mode: Literal["w"]) -> AbstractContextManager[TextIO]: ...
def atomic_file(target: Path, mode: str = "wb") -> AbstractContextManager[IO[Any]]:
    """Open a temporary sibling for writing; rename it over `target` only on success.

    `mode` is "wb" (a binary file) or "w" (text, UTF-8); the type of the yielded file follows it.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_file writes with mode 'w' or 'wb', not {mode!r}")
    return _atomic_file(target, mode)


@contextmanager
def _atomic_file(target: Path, mode: str) -> Iterator[IO[Any]]:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    tmp = Path(name)
    try:
        encoding = "utf-8" if mode == "w" else None
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
        # mkstemp makes the file 0600; give it the permissions a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
