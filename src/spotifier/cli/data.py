"""CLI commands: data (`ingest`, `stats`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from spotifier.cli.common import console, home_of, output_folder, print_json
from spotifier.errors import ExitCode, InvalidInputError
from spotifier.progress import stderr

if TYPE_CHECKING:
    from spotifier.store.pipeline import IngestReport

ENGINES = ("duckdb", "spark")
#: `ingest`'s exit code when some file could not be read and was skipped (the rest loaded)
PARTIAL_EXIT = int(ExitCode.PARTIAL)
_BARS = " ▁▂▃▄▅▆▇█"


def sparkline(histogram: list[list[int]], bins: int = 40) -> str:
    """A one-line histogram of [value, count] pairs over `bins` equal-width bins.

    >>> sparkline([[1, 4], [2, 2], [4, 1]], bins=4)
    '█▄ ▂'
    """
    if not histogram:
        return ""
    low, high = histogram[0][0], histogram[-1][0]
    width = max(1.0, (high - low + 1) / bins)
    n_bins = min(bins, int(high - low) + 1)
    totals = [0] * n_bins
    for value, count in histogram:
        totals[min(n_bins - 1, int((value - low) / width))] += count
    peak = max(totals) or 1
    return "".join(_BARS[round(8 * t / peak)] if t else " " for t in totals)


def _print_stats(stats: dict[str, Any]) -> None:
    absent = stats.get("absent", {})
    table = Table(title="Store statistics", show_header=False)
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key in (
        "playlists",
        "tracks",
        "unique_tracks",
        "unique_albums",
        "unique_artists",
        "unique_titles",
        "unique_normalized_titles",
        "playlists_with_descriptions",
        "avg_playlist_length",
    ):
        value = stats[key]
        table.add_row(key.replace("_", " "), _figure(value, absent.get(key)))
    console.print(table)
    tops = Table(title="Top titles, tracks, artists")
    for header in ("title", "n", "track", "n", "artist", "n"):
        tops.add_column(header, justify="right" if header == "n" else "left")
    lists = {key: stats[key] or [] for key in ("top_titles", "top_tracks", "top_artists")}
    for i in range(min(max(map(len, lists.values())), 10)):
        cells: list[str] = []
        for key, label in (
            ("top_titles", "title"),
            ("top_tracks", "name"),
            ("top_artists", "name"),
        ):
            items = lists[key]
            if i < len(items):  # a track or artist without a name shows its external id
                shown = items[i][label] or items[i].get("uri", "")
                cells += [escape(str(shown)), f"{items[i]['count']:,}"]
            else:
                cells += ["—" if i == 0 and stats[key] is None else "", ""]
        tops.add_row(*cells)
    console.print(tops)
    for key, hist in stats["histograms"].items():
        if hist is None:
            console.print(f"[bold]{key:>9}[/] {_figure(None, absent.get(key))}", highlight=False)
        elif hist:
            console.print(
                f"[bold]{key:>9}[/] {hist[0][0]:>5} |{sparkline(hist)}| {hist[-1][0]}",
                highlight=False,
            )


def _figure(value: Any, why_absent: str | None) -> str:
    """A statistic as text; one the data lacks reads "—  (no titles in this data)", never 0.

    >>> _figure(1234, None), _figure(2.5, None), _figure(None, "no titles in this data")
    ('1,234', '2.50', '—  (no titles in this data)')
    """
    if value is None:
        return f"—  ({why_absent})" if why_absent else "—"
    return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"


def _print_report(report: IngestReport) -> None:
    console.print(
        f"ingested {report.slices_ingested} file(s) ({report.playlists:,} playlists, "
        f"{report.entries:,} entries), skipped {report.slices_skipped} already in the store; "
        f"{report.megabytes:,.1f} MB in {report.seconds:.1f} s ({report.mb_per_s:,.0f} MB/s)",
        highlight=False,
    )
    if report.invalid_playlists:
        console.print(
            f"[yellow]{report.invalid_playlists:,} invalid playlist(s) or row(s) skipped[/]; "
            f"full list: {escape(str(report.invalid_list))}",
            highlight=False,
        )
        for example in report.examples:
            console.print(f"  {example}", highlight=False, markup=False)
    for problem in report.info_problems[:5]:
        console.print(f"[yellow]warning:[/] {escape(str(problem))}", highlight=False)
    for problem in report.rejected_files:
        stderr.print(f"skipped: {problem}", highlight=False, markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the app (only commands that work are registered)."""

    @app.command()
    def ingest(
        ctx: typer.Context,
        paths: list[Path] = typer.Argument(
            ...,
            help="MPD slices (a folder of mpd.slice.*.json[.gz], a folder holding data/, one "
            "slice) or playlist tables (.csv .tsv .parquet .jsonl .ndjson .json, .gz for text), "
            "or folders of them.",
        ),
        fmt: str | None = typer.Option(
            None,
            "--format",
            help="csv, tsv, parquet, jsonl, json or mpd (default: from each file's ending).",
        ),
        maps: list[str] | None = typer.Option(
            None,
            "--map",
            help="KEY=COLUMN: the column holding a key (playlist, track, tracks, position, "
            "title, artist_name, ...); repeat it. playlist=A,B joins columns into one id.",
        ),
        strict: bool = typer.Option(
            False, "--strict", help="Stop at the first invalid row or playlist; store unchanged."
        ),
        workers: int = typer.Option(
            0, "--workers", min=0, help="MPD parser processes (0: one per core)."
        ),
        engine: str = typer.Option(
            "duckdb", "--engine", help="MPD ingest engine: duckdb, or spark (pyspark + Java 17)."
        ),
        spark_master: str = typer.Option(
            "local[*]", "--spark-master", help="Spark master URL for --engine spark."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Validate playlists and load them into the store (resumable and idempotent).

        Exit 0: everything readable was loaded (invalid rows or playlists are skipped and
        listed); exit 5: some file could not be read and was skipped (the others loaded).
        """
        from spotifier.store.tabular import ingest_paths
        from spotifier.store.tabular_map import parse_maps

        if engine not in ENGINES:
            raise InvalidInputError(f"--engine: unknown engine {engine!r} (choose from {ENGINES})")
        mapping = parse_maps(maps)
        if engine == "spark":
            from spotifier.spark import ingest as spark_ingest

            if len(paths) != 1 or mapping or fmt not in (None, "mpd"):
                raise InvalidInputError("--engine spark ingests one MPD folder (no --map/--format)")
            report = spark_ingest(home_of(ctx, writes=True), paths[0], spark_master, strict=strict)
        else:
            report = ingest_paths(
                home_of(ctx, writes=True),
                paths,
                fmt,
                mapping,
                strict=strict,
                workers=workers or None,
            )
        if json_out:
            print_json(report.to_dict())
        else:
            _print_report(report)
        if report.rejected_files:
            raise typer.Exit(PARTIAL_EXIT)

    @app.command()
    def export(
        ctx: typer.Context,
        out: Path = typer.Argument(..., help="A new folder to write."),
        fmt: str = typer.Option(
            "parquet", "--format", help="parquet or csv (tables), or mpd (JSON slices)."
        ),
        json_out: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
    ) -> None:
        """Write the store as tables (entries with names, playlists, tracks, artists, albums)
        that pandas, Spark and DuckDB read, or as MPD slices; `ingest OUT` reads it back."""
        from spotifier.store.export import export as run_export

        home = home_of(ctx)
        output_folder(out, "OUT")  # before the store is read
        counts = run_export(home, out, fmt)
        if json_out:
            print_json({"out": str(out), "format": fmt, **counts})
            return
        console.print(
            f"wrote {counts['playlists']:,} playlists ({counts['entries']:,} entries) to {out}",
            highlight=False,
            markup=False,
        )

    @app.command()
    def stats(
        ctx: typer.Context,
        json_out: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """The official stats.txt figures for the ingested data, plus histograms."""
        from spotifier.store import compute_stats

        result = compute_stats(home_of(ctx))
        if json_out:
            print_json(result)
        else:
            _print_stats(result)
