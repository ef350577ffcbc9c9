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


@dataclass
class State:
    home_option: Path | None = None

    @property
    def home(self) -> Home:
        return Home.resolve(self.home_option)


def home_of(ctx: typer.Context) -> Home:
    """The resolved home folder for this invocation."""
    state = ctx.find_object(State)
    return (state or State()).home


def print_json(obj: Any) -> None:
    """Machine-readable output on stdout (NaN/inf become null)."""
    sys.stdout.buffer.write(
        orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n"
    )
    sys.stdout.flush()
