"""CLI commands: analysis (`followers`, `report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from spotifier.cli.common import console, home_of, output_folder, print_json
from spotifier.errors import InvalidInputError

_COLUMNS = (
    ("r2_train", "R² train"),
    ("r2_test", "R² test"),
    ("r2_log_test", "R² log test"),
    ("mae_test", "MAE test"),
    ("spearman_test", "Spearman test"),
)


def _cell(value: Any) -> str:
    if not isinstance(value, float):
        return str(value)
    return f"{value:.3g}" if abs(value) >= 1e4 else f"{value:.4f}"


def register(app: typer.Typer) -> None:
    """Add this area's commands to the app (only commands that work are registered)."""

    @app.command()
    def followers(
        ctx: typer.Context,
        playlists: int = typer.Option(
            200_000, "--playlists", help="Playlists sampled for the improved models."
        ),
        seed_sample: int = typer.Option(
            10_000,
            "--seed-sample",
            help="Playlists sampled for the seed's models (it used 10,000).",
        ),
        folds: int = typer.Option(3, "--folds", help="Cross-validation folds (0 to skip)."),
        as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    ) -> None:
        """Regress num_followers on playlist features: the seed's study reproduced, then done
        right (log/Poisson targets, rich features, CV); saved to results/followers.json."""
        from spotifier import followers as study

        if playlists < 1 or seed_sample < 1:
            raise InvalidInputError("--playlists and --seed-sample must be at least 1")
        if folds < 0 or folds == 1:
            raise InvalidInputError(
                f"--folds must be 0 (no cross-validation) or at least 2, got {folds}"
            )
        home = home_of(ctx, writes=True)
        result = study.run_study(home, playlists, seed_sample, folds)
        path = study.save(home, result)
        if as_json:
            print_json({k: v for k, v in result.items() if k != "predictions"})
            return
        table = Table(title=f"followers study ({result['n_playlists']:,} playlists)")
        table.add_column("model", no_wrap=True)
        table.add_column("family", no_wrap=True)
        for _, label in _COLUMNS:
            table.add_column(label, justify="right")
        for name, row in result["models"].items():
            table.add_row(name, row["family"], *[_cell(row[key]) for key, _ in _COLUMNS])
        console.print(table)
        console.print(f"saved {path}", markup=False)

    @app.command()
    def report(
        ctx: typer.Context,
        out: Path | None = typer.Option(
            None, "--out", help="Output folder (default: HOME/report/)."
        ),
    ) -> None:
        """Write the HTML report (EDA, model results, sweeps, followers study, examples)."""
        from spotifier.report import build

        if out is None:
            home = home_of(ctx, writes=True)
        else:
            home = home_of(ctx)
            output_folder(out, "--out")  # before the report's plots are drawn
        path = build(home, out)
        console.print(f"report: {path}", markup=False)
