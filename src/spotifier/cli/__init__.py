"""The `spotifier` command line: thin commands over library functions.

Each area registers its commands from its own module (`data`, `evaluation`, `models`, `service`,
`analysis`, `demo`), so the CLI grows without one large file.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from typing import NoReturn

import typer
from rich.text import Text

from spotifier.cli import (
    analysis,
    data,
    demo,
    evaluation,
    failures,
    generate,
    models,
    service,
    tune,
)
from spotifier.cli.common import State, current_home
from spotifier.errors import ExitCode, SpotifierError
from spotifier.progress import set_quiet, stderr

app = typer.Typer(
    name="spotifier",
    help=(
        "Automatic playlist continuation on the Million Playlist Dataset format: generate or "
        "ingest playlists, train recommenders, evaluate them with the 2018 challenge's metrics, "
        "write submissions, serve continuations over HTTP, and report with plots."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    home: str | None = typer.Option(
        None,
        "--home",
        help="Home folder for the store, splits, models and results "
        "(default: $SPOTIFIER_HOME, else ./spotifier-home).",
        envvar=None,
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    set_quiet(quiet)
    ctx.obj = State(home_option=home)


for _module in (generate, data, evaluation, models, tune, service, analysis, demo):
    _module.register(app)


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`), raised as Ctrl-C is, so half-written files are removed on the way out."""


def _on_sigterm(signum: int, frame: object) -> None:
    if os.getpid() != _MAIN_PID[0]:  # a forked worker keeps the default: die at once
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    signal.signal(signum, signal.SIG_DFL)  # a second `kill` stops at once
    _TERMINATED.append(True)
    raise Terminated


_MAIN_PID = [0]
_TERMINATED: list[bool] = []


def _interrupted() -> NoReturn:
    if _TERMINATED:
        fail("terminated", ExitCode.TERMINATED)
    fail("interrupted", ExitCode.INTERRUPTED)


def main() -> None:
    """Entry point: run the app; every failure is one line on stderr and an `ExitCode`.

    SIGTERM is turned into an exception, as Ctrl-C is: temporary files and folders of an
    interrupted write are removed (`home.atomic_file`, `home.atomic_dir`) and the exit is 143.
    """
    if threading.current_thread() is not threading.main_thread():
        _run()  # only the main thread may set signal handlers
        return
    _MAIN_PID[0] = os.getpid()
    _TERMINATED.clear()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _run()
    finally:  # main() may run inside another program (a test, a notebook): leave it as it was
        signal.signal(signal.SIGTERM, previous)


def _run() -> None:
    try:
        # Without standalone mode, click returns a command's `typer.Exit(code)` instead of exiting.
        code = app(standalone_mode=False)
        if code == ExitCode.INTERRUPTED:  # typer turns Ctrl-C (and our SIGTERM) into 130
            _interrupted()
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _interrupted()
    except BrokenPipeError:
        # The reader of stdout went away (`spotifier stats | head`): nothing left to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(ExitCode.FAILED)
    except Exception as exc:
        message = getattr(exc, "format_message", None)  # click's errors (typer vendors click)
        exit_code = getattr(exc, "exit_code", None)
        if callable(message) and isinstance(exit_code, int) and not isinstance(exc, SpotifierError):
            if type(exc).__name__ == "NoArgsIsHelpError":  # typer has printed the help already
                sys.exit(exit_code)
            command = getattr(getattr(exc, "ctx", None), "command_path", None)
            hint = f" (see: {command} --help)" if command else ""
            fail(f"{message()}{hint}", exit_code)
        if failures.debug():
            traceback.print_exc()
        line, code = failures.describe(exc, current_home())
        fail(line, code)


def fail(line: str, code: int) -> NoReturn:
    """Print one error line on stderr (never re-wrapped, never read as markup) and exit."""
    text = (
        Text(line)
        if line.startswith("internal error")
        else Text.assemble(("error:", "red"), " ", line)
    )
    stderr.print(text, soft_wrap=True, highlight=False)
    sys.exit(code)
