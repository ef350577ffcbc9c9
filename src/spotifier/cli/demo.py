"""CLI command: demo — the whole pipeline on a generated world, as the user would type it.

Every step is an ordinary `spotifier` command run in-process and printed first, so the demo doubles
as a tour of the CLI. Steps whose outputs already exist are skipped (generation, split) or are
idempotent (ingest, saved models are reused), so an interrupted demo resumes where it stopped.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape

from spotifier.cli.common import console, home_of
from spotifier.errors import InvalidInputError
from spotifier.models.registry import model_names


def _commands(app: typer.Typer) -> set[str]:
    return {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}


def _run(app: typer.Typer, home: Path, argv: list[str]) -> None:
    shown = " ".join(["spotifier", *argv])
    console.rule(f"[bold cyan]$ {escape(shown)}", align="left")
    started = time.perf_counter()
    app(["--home", str(home), *argv], standalone_mode=False)
    console.print(f"[dim]({time.perf_counter() - started:.1f} s)[/]")


def register(app: typer.Typer) -> None:
    """Add `demo`, which runs the app's own commands in-process (so it is given the app)."""

    @app.command()
    def demo(
        ctx: typer.Context,
        playlists: int = typer.Option(
            20_000, "--playlists", help="Size of the generated world (the default world: 20,000)."
        ),
        seed: int = typer.Option(0, "--seed", min=0, help="Generator seed."),
        models: str | None = typer.Option(
            None, "--models", help="Comma-separated models to train and evaluate (default: all)."
        ),
    ) -> None:
        """Run everything on generated data: generate, ingest, stats, split, train and evaluate
        every model, write and verify a challenge submission, the followers study and the report."""
        available = set(model_names())  # registry order is table order
        chosen = [m.strip() for m in models.split(",") if m.strip()] if models else model_names()
        unknown = [m for m in chosen if m not in available]
        if unknown or not chosen:
            raise InvalidInputError(
                f"--models: unknown model(s) {', '.join(unknown) or '(none given)'}; "
                f"available: {', '.join(model_names())}"
            )
        home = home_of(ctx, writes=True).ensure()
        commands = _commands(app)
        world = home.generated_dir
        started = time.perf_counter()

        if not (world / "data").exists():
            _run(
                app,
                home.root,
                ["generate", str(world), "--playlists", str(playlists), "--seed", str(seed)],
            )
        else:
            console.print(f"[dim]using the generated world in {escape(str(world))}[/]")
        _run(app, home.root, ["ingest", str(world)])
        _run(app, home.root, ["stats"])
        if not (home.split_dir("default") / "challenge_set.json").exists():
            _run(app, home.root, ["split", "--name", "default", "--seed", str(seed)])
        _run(app, home.root, ["evaluate", *chosen, "--split", "default"])
        # The seed's protocol: its two models beside popularity and two cheap strong models.
        seedish = [
            m
            for m in ("popularity", "seed-baseline", "seed-combined", "playlist-knn", "als")
            if m in chosen
        ]
        if seedish:
            _run(app, home.root, ["evaluate", *seedish, "--protocol", "hide-first"])
        best = "hybrid" if "hybrid" in chosen else chosen[-1]
        submission = home.root / "submission.csv"
        challenge_set = home.split_dir("default") / "challenge_set.json"
        _run(
            app,
            home.root,
            [
                "challenge",
                str(challenge_set),
                "--model",
                best,
                "--split",
                "default",
                "--out",
                str(submission),
            ],
        )
        _run(app, home.root, ["verify", str(challenge_set), str(submission)])
        _run(app, home.root, ["score", str(submission), "--split", "default"])
        if "followers" in commands:
            _run(app, home.root, ["followers"])
        if "report" in commands:
            _run(app, home.root, ["report"])
        console.rule("[bold green]done", align="left")
        console.print(
            f"the whole pipeline took {time.perf_counter() - started:.0f} s; home: {home.root}",
            markup=False,
        )
        if "report" in commands:
            console.print(f"report: {home.reports_dir / 'index.html'}", markup=False)
        if "serve" in commands:
            console.print(
                f"serve it: spotifier --home {home.root} serve --model {best} --split default   "
                "(then open http://127.0.0.1:8000/)",
                markup=False,
            )
