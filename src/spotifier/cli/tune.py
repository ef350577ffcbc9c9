"""CLI commands: tune."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from spotifier.cli.common import console, home_of, print_json
from spotifier.errors import InvalidInputError
from spotifier.models import registry


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the app (only commands that work are registered)."""

    @app.command()
    def tune(
        ctx: typer.Context,
        model: str = typer.Argument(..., help="Registered model name."),
        grid: list[str] = typer.Option(
            [], "--grid", help="A hyperparameter and its values, key=v1,v2 (repeatable)."
        ),
        fixed: list[str] = typer.Option(
            [], "--set", help="A hyperparameter held fixed, key=value (repeatable)."
        ),
        split: str | None = typer.Option(
            None,
            "--split",
            help="Tune on this split's training data (default: the 'default' split if it "
            "exists, else the whole store). Its held-out playlists are never used.",
        ),
        playlists: int = typer.Option(
            1000, "--playlists", help="Training playlists cut into validation cases."
        ),
        seed: int = typer.Option(
            0, "--seed", min=0, help="Seed for choosing validation playlists."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the result table as JSON."),
    ) -> None:
        """Sweep a model's hyperparameters on validation playlists cut from the training data;
        print the table and save it to results/tune/MODEL.json."""
        from spotifier.evaluation.tuning import METRICS, parse_grid, sweep

        if playlists < 1:
            raise InvalidInputError(f"--playlists must be at least 1, got {playlists}")
        registry.model_class(model)  # an unknown name fails before any data is read
        home = home_of(ctx, writes=True)
        if split is None and home.split_dir("default").exists():
            split = "default"
        result = sweep(home, model, parse_grid(grid), split, playlists, seed, fixed)
        if as_json:
            print_json(result)
            return
        keys = list(result["grid"])
        table = Table(
            title=f"tune {model} on {result['validation_playlists']} validation playlists"
            + (f" (split '{escape(split)}')" if split else "")
        )
        for key in [*keys, *METRICS, "fit_seconds"]:
            table.add_column(key, justify="right")
        for row in result["rows"]:
            best = all(row[k] == result["best"][k] for k in keys)
            cells = [_cell(row[k]) for k in [*keys, *METRICS, "fit_seconds"]]
            table.add_row(*cells, style="bold green" if best else None)
        console.print(table)
        console.print(f"saved {home.results_dir / 'tune' / (model + '.json')}", markup=False)
