"""CLI commands: train, recommend."""

from __future__ import annotations

from typing import Any

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from spotifier.cli.common import console, home_of, print_json, text_argument
from spotifier.models import registry
from spotifier.models.registry import model_names, unavailable
from spotifier.progress import note


def continuation(
    home: Any, model: str, split: str | None, name: str | None, tracks: list[str], k: int
) -> dict[str, Any]:
    """One playlist's continuation as a JSON-ready dict (the library call behind `recommend`).

    A seed is a track id, or "artist — track" when the store has names (ids derived from names
    are not for typing); `resolved` maps each name given to the id found.
    """
    from spotifier import store
    from spotifier.models import persist
    from spotifier.models.chain import check_k
    from spotifier.store.names import resolve_tracks

    check_k(k)  # before anything is loaded, or trained on demand
    tracks = [text_argument(uri, "--track") for uri in tracks]
    name = None if name is None else text_argument(name, "--name")
    registry.model_class(model)
    catalog = store.load_catalog(home)
    tracks, resolved = resolve_tracks(home, catalog, tracks)
    chain = persist.load_chain(home, model, split)
    query, unknown = chain.query(catalog, tracks, name)
    recs = chain.recommend([query], k)
    items, scores = recs.row(0)
    reasons = chain.explain(query, items)
    rows = []
    for rank, (info, score, reason) in enumerate(
        zip(catalog.describe(items.tolist()), scores.tolist(), reasons, strict=True), start=1
    ):
        rows.append(
            {
                "rank": rank,
                **info,
                "score": None if np.isnan(score) else round(float(score), 6),
                "reason": reason,
            }
        )
    return {
        "model": model,
        "split": split,
        "answered_by": chain.route(query),
        "k": k,
        "name": name,
        "seeds": len(query.seeds),
        "resolved": resolved,
        "unknown_tracks": unknown,
        "tracks": rows,
    }


def _clip(text: str, width: int = 80) -> str:
    """A user's string shortened for a one-line message (a pasted 100 kB 'URI' stays readable)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _model_help() -> str:
    """The registered names, and those whose extra is missing with the extra to install."""
    text = "Registered model name: " + ", ".join(model_names()) + "."
    missing = unavailable()
    if missing:
        text += " Unavailable here: " + ", ".join(
            f"{name} (pip install 'spotifier[{extra}]')" for name, extra in missing.items()
        )
        text += "."
    return text + " `spotifier models` lists them with their settings."


_MODEL_HELP = _model_help()


def register(app: typer.Typer) -> None:
    """Add this area's commands to the app (only commands that work are registered)."""

    @app.command()
    def train(
        ctx: typer.Context,
        model: str = typer.Argument(..., help=_MODEL_HELP),
        split: str | None = typer.Option(
            None, "--split", help="Train on everything but this split's held-out tracks."
        ),
        settings: list[str] = typer.Option(
            [], "--set", help="Override a hyperparameter, key=value (repeatable)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the saved meta.json."),
        engine: str = typer.Option(
            "local", "--engine", help="local, or spark (als only: Spark MLlib ALS)."
        ),
        spark_master: str = typer.Option(
            "local[*]", "--spark-master", help="Spark master URL for --engine spark."
        ),
    ) -> None:
        """Fit one registered model and save it in the home folder."""
        import dataclasses

        from spotifier.errors import InvalidInputError
        from spotifier.models import persist
        from spotifier.models.base import Recommender

        home = home_of(ctx, writes=True)
        home.model_dir(model, split)  # a split name that is no safe folder fails first
        if engine not in ("local", "spark"):
            raise InvalidInputError(f"--engine: unknown engine {engine!r} (local or spark)")
        if engine == "spark" and model != "als":
            raise InvalidInputError(f"--engine spark trains 'als' only, not {model!r}")
        fitted: Recommender
        if engine == "spark":
            from spotifier.spark import train_als

            fitted = train_als(home, split, spark_master, settings)
        else:
            fitted = persist.train(home, model, split, settings)
        meta = persist.read_meta(home, model, split)
        if as_json:
            print_json({**meta, "config": dataclasses.asdict(fitted.config)})
            return
        console.print(
            f"trained [bold]{model}[/] on {meta['n_playlists']:,} playlists in "
            f"{meta['fit_seconds']:.1f} s; saved to {escape(str(home.model_dir(model, split)))}",
            highlight=False,
        )

    @app.command("models")
    def list_models(
        model: str | None = typer.Argument(None, help="Show this model's settings only."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """List the registered models, or one model's settings (default, allowed, meaning)."""
        from spotifier.models.registry import describe

        listing = describe(model, settings=model is not None or as_json)
        if as_json:
            print_json(listing)
            return
        for name, entry in listing.items():
            if not entry["available"]:
                console.print(
                    f"[bold]{name}[/]: unavailable, pip install 'spotifier[{entry['extra']}]'",
                    highlight=False,
                )
                continue
            console.print(f"[bold]{name}[/]", highlight=False)
            if model is None:
                continue
            table = Table("setting", "default", "allowed", "meaning", show_lines=True)
            for key, setting in entry["settings"].items():
                shown = f"{key} *" if setting["query_time"] else key
                table.add_row(shown, str(setting["default"]), setting["allowed"], setting["doc"])
            console.print(table)
            if any(setting["query_time"] for setting in entry["settings"].values()):
                console.print(
                    f"* read at query time: `spotifier serve --set {name}.KEY=VALUE` serves the "
                    "trained model with another value",
                    highlight=False,
                )

    @app.command()
    def recommend(
        ctx: typer.Context,
        model: str = typer.Option(..., "--model", "-m", help=_MODEL_HELP),
        split: str | None = typer.Option(
            None, "--split", help="Use the model trained on this split."
        ),
        name: str | None = typer.Option(None, "--name", help="The playlist's title."),
        tracks: list[str] = typer.Option(
            [],
            "--track",
            help="A seed track id, or 'Artist — Track' when the data has names (repeatable), "
            "in playlist order.",
        ),
        k: int = typer.Option(500, "-k", help="How many tracks to recommend (1 to 500)."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    ) -> None:
        """Continue one playlist from its title and/or seed tracks."""
        result = continuation(home_of(ctx), model, split, name, tracks, k)
        if result["unknown_tracks"]:
            unknown = result["unknown_tracks"]
            shown = ", ".join(escape(_clip(uri)) for uri in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            note(f"[yellow]ignored {len(unknown)} unknown track URI(s):[/] {shown}{more}")
        if as_json:
            print_json(result)
            return
        table = Table(
            title=f"{model} ({result['answered_by']}): {result['seeds']} seed(s)"
            + (f", title '{escape(_clip(name))}'" if name else ""),
        )
        # The external id always; names only where the data has them.
        columns = ["rank", "uri", *[c for c in ("name", "artist", "album") if _any(result, c)]]
        for column in (*columns, "score"):
            header = "id" if column == "uri" else column
            table.add_column(header, justify="right" if column in ("rank", "score") else "left")
        for row in result["tracks"]:
            score = "popular" if row["score"] is None else f"{row['score']:.4g}"
            table.add_row(*[escape(str(row[c])) for c in columns], score)
        console.print(table)


def _any(result: dict[str, Any], column: str) -> bool:
    return any(row[column] for row in result["tracks"])
