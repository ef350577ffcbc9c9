"""Errors a user can act on. The CLI prints their message as one line and exits non-zero."""

from __future__ import annotations


class SpotifierError(Exception):
    """Base class: the message names the file, playlist or field at fault."""

    exit_code = 1


class InvalidInputError(SpotifierError):
    """A file, playlist, field or argument does not satisfy the documented format."""

    exit_code = 2


class NotFoundError(SpotifierError):
    """Something the command needs (store, split, model, file) does not exist yet."""

    exit_code = 3


class MissingExtraError(SpotifierError):
    """An optional dependency is not installed; the message names the extra to install."""

    exit_code = 4

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"this needs the '{package}' package: pip install 'spotifier[{extra}]'")


def require(module: str, extra: str) -> object:
    """Import an optional module, or raise MissingExtraError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingExtraError(module.split(".")[0], extra) from exc
