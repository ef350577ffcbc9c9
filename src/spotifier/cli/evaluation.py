"""CLI commands: split, evaluate, challenge, verify, score."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from spotifier.cli.common import console, home_of, output_file, print_json
from spotifier.home import folder_name
from spotifier.progress import note

_METRIC_HEADERS = {
    "r_precision": "R-prec",
    "r_precision_track": "R-prec (track)",
    "ndcg": "NDCG",
    "clicks": "clicks",
    "hit_at_100": "hit@100",
}


def register(app: typer.Typer) -> None:
    """Add this area's commands to the app (only commands that work are registered)."""

    @app.command()
    def split(
        ctx: typer.Context,
        name: str | None = typer.Option(
            None,
            "--name",
            help="Split name (home/splits/NAME/); default: 'default', or 'hide-first' for that "
            "protocol (so building one never replaces the other).",
        ),
        playlists: int = typer.Option(
            10_000,
            "--playlists",
            help="challenge: playlists held out (multiple of 10, at most 10% of the store); "
            "hide-first: the sample size (90% bank, 10% test).",
        ),
        seed: int = typer.Option(0, "--seed", min=0, help="Random seed (same seed, same split)."),
        protocol: str = typer.Option("challenge", "--protocol", help="challenge or hide-first."),
        as_json: bool = typer.Option(False, "--json", help="Print the split's meta as JSON."),
    ) -> None:
        """Build a held-out split: the challenge's 10 categories, or the seed's hide-first."""
        from spotifier.split import build_split

        if name is None:
            name = "hide-first" if protocol == "hide-first" else "default"
        folder_name(name, "split name")  # before the store is read
        meta = build_split(home_of(ctx, writes=True), name, playlists, seed, protocol)
        if as_json:
            print_json(meta)
            return
        counts = ", ".join(f"{k}: {v}" for k, v in meta["categories"].items())
        console.print(
            f"split '{name}' ({meta['protocol']}): {meta['playlists']} held-out playlists "
            f"({counts}) in {home_of(ctx).split_dir(name)}",
            markup=False,
        )

    @app.command()
    def evaluate(
        ctx: typer.Context,
        models: list[str] = typer.Argument(..., help="Registered model names."),
        split_name: str | None = typer.Option(
            None, "--split", help="Split (default: 'default', or 'hide-first' for that protocol)."
        ),
        protocol: str | None = typer.Option(
            None, "--protocol", help="challenge or hide-first (default: the split's)."
        ),
        sample: int | None = typer.Option(
            None,
            "--sample",
            min=1,
            help="Score a seeded sample of N held-out playlists. Without it the seed's slow "
            "models (seed-baseline, seed-combined) score 500 of a challenge split (every "
            "hide-first test playlist); N also lifts that cap.",
        ),
        no_oracle: bool = typer.Option(False, "--no-oracle", help="Skip the oracle row."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable results."),
    ) -> None:
        """Score models on a split: overall and per-category metrics, one row per model."""
        from spotifier.evaluation import evaluate as run
        from spotifier.models import registry

        for model in models:
            registry.model_class(model)  # unknown names fail before a split is built
        report = run(
            home_of(ctx, writes=True), models, split_name, protocol, sample, oracle=not no_oracle
        )
        if as_json:
            print_json(report)
        else:
            _print_report(report)

    @app.command()
    def challenge(
        ctx: typer.Context,
        challenge_json: Path = typer.Argument(..., help="An official challenge_set.json."),
        model: str = typer.Option(..., "--model", help="Model trained on the whole store."),
        out: Path = typer.Option(..., "--out", help="Submission CSV to write."),
        team: str = typer.Option("spotifier", "--team", help="Team name for team_info."),
        email: str = typer.Option("spotifier@example.org", "--email", help="Contact email."),
        track: str = typer.Option("main", "--track", help="main or creative."),
        gzip: bool = typer.Option(False, "--gzip", help="Gzip the file (as submitted)."),
        on_split: str | None = typer.Option(
            None,
            "--split",
            help="Use the model trained on this split instead of the whole store (to score a "
            "split's own challenge set without leakage).",
        ),
    ) -> None:
        """Recommend 500 tracks for each challenge playlist and write a valid submission."""
        from spotifier import store
        from spotifier.errors import InvalidInputError
        from spotifier.evaluation import recommend_challenge, require_spotify_uris
        from spotifier.models import persist
        from spotifier.mpd.challenge import read_challenge_set, write_submission

        home = home_of(ctx)
        output_file(out, "--out")  # before any recommendation is computed
        if out.resolve() == challenge_json.resolve():
            raise InvalidInputError(
                f"--out {out} is the challenge set itself; write the submission elsewhere"
            )
        catalog = store.load_catalog(home)
        require_spotify_uris(catalog, "challenge")
        challenge_set = read_challenge_set(challenge_json)
        chain = persist.load_chain(home, model, on_split)
        rows, unknown = recommend_challenge(chain, challenge_set, catalog)
        if unknown:
            shown = ", ".join(escape(u[:80]) for u in sorted(set(unknown))[:3])
            note(
                f"[yellow]{len(set(unknown))} seed track URI(s) are not in the store and were "
                f"ignored (e.g. {shown})[/]"
            )
        write_submission(out, rows, team=team, email=email, track=track, compress=gzip)
        console.print(f"wrote {len(rows)} playlists x 500 tracks to {out}", markup=False)

    @app.command()
    def verify(
        ctx: typer.Context,
        challenge_json: Path = typer.Argument(..., help="The challenge_set.json answered."),
        submission: Path = typer.Argument(..., help="Submission CSV (or .csv.gz)."),
    ) -> None:
        """Check a submission as the official verifier does (plus duplicate pid lines)."""
        from spotifier.mpd.challenge import read_challenge_set, verify_submission

        _spotify_store_only(ctx, "verify")
        problems = verify_submission(read_challenge_set(challenge_json), submission)
        if problems:
            for problem in problems:
                typer.echo(problem)
            raise typer.Exit(1)
        typer.echo("OK")

    @app.command()
    def score(
        ctx: typer.Context,
        submission: Path = typer.Argument(..., help="Submission CSV (or .csv.gz)."),
        split_name: str | None = typer.Option(None, "--split", help="Score against this split."),
        challenge_json: Path | None = typer.Option(None, "--challenge", help="Challenge set."),
        truth: Path | None = typer.Option(None, "--truth", help="truth.json for --challenge."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable results."),
    ) -> None:
        """Score a submission against held-out truth, overall and per category."""
        result = _score(ctx, submission, split_name, challenge_json, truth)
        if as_json:
            print_json(result)
            return
        table = Table(title=f"score of {escape(str(submission))}", box=box.SIMPLE_HEAD)
        table.add_column("category")
        keys = [k for k in _METRIC_HEADERS if k in result["overall"]]
        for key in keys:
            table.add_column(_METRIC_HEADERS[key], justify="right")
        table.add_column("playlists", justify="right")
        groups = {"overall": result["overall"], **result["per_category"]}
        for label, means in groups.items():
            table.add_row(label, *[_fmt(means[k], k) for k in keys], str(means["playlists"]))
        _show(table)
        if result["missing"]:
            note(f"[yellow]{result['missing']} truth playlist(s) had no submission line[/]")


def _score(
    ctx: typer.Context,
    submission: Path,
    split_name: str | None,
    challenge_json: Path | None,
    truth_path: Path | None,
) -> dict[str, Any]:
    from spotifier.errors import InvalidInputError
    from spotifier.evaluation import read_truth, score_submission
    from spotifier.mpd.challenge import read_challenge_set

    home = home_of(ctx)
    _spotify_store_only(ctx, "score")
    if split_name is not None and (challenge_json or truth_path):
        raise InvalidInputError("give either --split or --challenge with --truth, not both")
    categories = None
    if split_name is not None:
        from spotifier.split import load_split

        loaded = load_split(home, split_name)
        folder = home.split_dir(split_name)
        challenge_json, truth_path = folder / "challenge_set.json", folder / "truth.json"
        categories = {c.pid: c.category for c in loaded.cases}
    elif challenge_json is None or truth_path is None:
        raise InvalidInputError("give --split NAME, or both --challenge and --truth")
    artist_of = _artist_map(home)
    if artist_of is None:
        note("[yellow]no store in the home folder: artist credit off (track-only R-precision)[/]")
    result = score_submission(
        submission,
        read_challenge_set(challenge_json),
        read_truth(truth_path),
        artist_of,
        categories,
    )
    result["submission"] = str(submission)
    return result


def _spotify_store_only(ctx: typer.Context, command: str) -> None:
    """`verify` and `score` need no store, but on a store of own playlists they cannot apply."""
    home = home_of(ctx)
    if home.store_path.exists():
        from spotifier import store
        from spotifier.evaluation import require_spotify_uris

        require_spotify_uris(store.load_catalog(home), command)


def _artist_map(home: Any) -> dict[str, int] | None:
    """Track URI → artist index from the store, or None when there is no store."""
    if not home.store_path.exists():
        return None
    from spotifier import store

    catalog = store.load_catalog(home)
    return dict(zip(catalog.track_uris.tolist(), catalog.track_artist.tolist(), strict=True))


def _fmt(value: float | None, key: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if key == "clicks" else f"{value:.4f}"


def _show(table: Table) -> None:
    # Piped output (logs, CI) gets the full width instead of rich's 80-column default.
    out = console if console.is_terminal else Console(width=200, highlight=False)
    out.print(table)


def _print_report(report: dict[str, Any]) -> None:
    models = report["models"]
    hide_first = report["protocol"] == "hide-first"
    keys = [k for k in _METRIC_HEADERS if hide_first or k != "hit_at_100"]
    gap_key = "hit_at_100" if hide_first else "r_precision"
    table = Table(
        title=f"split '{escape(str(report['split']))}' ({report['protocol']} protocol)",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("model")
    for key in keys:
        table.add_column(_METRIC_HEADERS[key], justify="right")
    table.add_column(f"gap share ({_METRIC_HEADERS[gap_key]})", justify="right")
    table.add_column("fit s", justify="right")
    table.add_column("recommend s", justify="right")
    table.add_column("playlists", justify="right")
    for name, result in models.items():
        overall = result["overall"]
        gap = result.get("gap_share", {}).get(gap_key)
        count = str(overall["playlists"]) + (" (sampled)" if "sampled" in result else "")
        table.add_row(
            name,
            *[_fmt(overall.get(k), k) for k in keys],
            "-" if gap is None else f"{gap:.0%}",
            f"{result['fit_seconds']:.1f}",
            f"{result['recommend_seconds']:.1f}",
            count,
        )
    _show(table)
    for line in report.get("notes", []):
        note(f"[yellow]{line}[/]")
    if hide_first or not models:
        return
    categories = list(next(iter(models.values()))["per_category"])
    for key in keys:
        per = Table(title=f"{_METRIC_HEADERS[key]} per category", box=box.SIMPLE_HEAD)
        per.add_column("model")
        for category in categories:
            per.add_column(category, justify="right")
        for name, result in models.items():
            cells = [result["per_category"].get(c, {}).get(key) for c in categories]
            per.add_row(name, *[_fmt(v, key) for v in cells])
        _show(per)
    staged = {n: r["candidate_recall"] for n, r in models.items() if "candidate_recall" in r}
    if staged:
        recall = Table(title="candidate-stage recall per category", box=box.SIMPLE_HEAD)
        recall.add_column("model")
        recall.add_column("overall", justify="right")
        for category in categories:
            recall.add_column(category, justify="right")
        for name, values in staged.items():
            cells = [values["per_category"].get(c) for c in categories]
            recall.add_row(
                name, f"{values['overall']:.4f}", *["-" if v is None else f"{v:.4f}" for v in cells]
            )
        _show(recall)
    console.print(
        "gap share = (model - popularity) / (oracle - popularity); fit s includes the title "
        "fallback; categories: 1 title only, 2 title + first 1, 3 title + first 5, "
        "4 first 5 (no title), 5 title + first 10, 6 first 10 (no title), 7 title + first 25, "
        "8 title + 25 random, 9 title + first 100, 10 title + 100 random",
        highlight=False,
    )
