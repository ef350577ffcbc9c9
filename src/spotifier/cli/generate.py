"""CLI commands: generate."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from spotifier.cli.common import print_json
from spotifier.progress import note


def register(app: typer.Typer) -> None:
    """Add this area's commands to the app (only commands that work are registered)."""

    @app.command()
    def generate(
        out: Path = typer.Argument(
            ...,
            help="Folder to write: OUT/data/mpd.slice.*.json (or playlists-*.csv|parquet) "
            "and OUT/truth/.",
        ),
        playlists: int = typer.Option(20_000, "--playlists", "-n", help="How many playlists."),
        seed: int = typer.Option(0, "--seed", "-s", help="Random seed (same seed, same bytes)."),
        gzip: bool = typer.Option(False, "--gzip", help="Write .json.gz slices."),
        force: bool = typer.Option(False, "--force", help="Replace OUT even if it is not empty."),
        workers: int | None = typer.Option(
            None, "--workers", help="Worker processes (default: cores)."
        ),
        fmt: str = typer.Option(
            "mpd",
            "--format",
            help="mpd (JSON slices), or csv / parquet: the same playlists as long tables.",
        ),
        json_out: bool = typer.Option(False, "--json", help="Print the run report as JSON."),
    ) -> None:
        """Write a realistic synthetic MPD (the default world is 20,000 playlists, seed 0)."""
        from spotifier.synth import generate as run

        report = run(
            out,
            n_playlists=playlists,
            seed=seed,
            gzip=gzip,
            workers=workers,
            force=force,
            fmt=fmt,
        )
        if json_out:
            print_json(report.as_dict())
            return
        note(
            f"wrote {report.playlists:,} playlists ({report.entries:,} entries, "
            f"{report.bytes / 1e6:,.0f} MB) to {escape(str(out))} in {report.seconds:.1f}s: "
            f"{report.unique_tracks:,} tracks, {report.unique_albums:,} albums, "
            f"{report.unique_artists:,} artists, {report.unique_normalized_titles:,} titles"
        )
