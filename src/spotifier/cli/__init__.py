"""The `spotifier` command line: thin commands over library functions.

Each area registers its commands from its own module (`data`, `evaluation`, `models`, `service`,
`analysis`, `demo`), so the CLI grows without one large file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from spotifier.cli import analysis, data, demo, evaluation, generate, models, service, tune
from spotifier.cli.common import State
from spotifier.errors import SpotifierError
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
    home: Path | None = typer.Option(
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


def main() -> None:
    """Entry point: run the app, turning Spotifier errors into one line on stderr."""
    try:
        # Without standalone mode, click returns a command's `typer.Exit(code)` instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except SpotifierError as exc:
        stderr.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        stderr.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click usage errors (typer vendors its own click: duck-type them)
        show = getattr(exc, "show", None)
        if callable(show) and isinstance(getattr(exc, "exit_code", None), int):
            show()
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        raise
