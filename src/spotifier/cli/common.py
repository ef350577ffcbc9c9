"""Shared CLI plumbing: the home folder from the global option, JSON output."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console

from spotifier.home import Home

console = Console()

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


def home_of(ctx: typer.Context) -> Home:
    """The resolved home folder for this invocation."""
    state = ctx.find_object(State)
    return (state or State()).home


def current_home() -> Path | None:
    """The home folder of the running command, once resolved (for error messages)."""
    return _resolved[0].root if _resolved else None


def print_json(obj: Any) -> None:
    """Machine-readable output on stdout (NaN/inf become null)."""
    sys.stdout.buffer.write(
        orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n"
    )
    sys.stdout.flush()
