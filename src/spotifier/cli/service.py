"""CLI commands: service (`spotifier serve`)."""

from __future__ import annotations

import typer

from spotifier.cli.common import home_of


def register(app: typer.Typer) -> None:
    """Add this area's commands to the app (only commands that work are registered)."""

    @app.command()
    def serve(
        ctx: typer.Context,
        model: list[str] = typer.Option(
            [],
            "--model",
            "-m",
            help="A model to serve (repeatable; the first is the default). Without it: hybrid "
            "if saved, else the first saved model in preference order, else item-knn is trained.",
        ),
        split: str | None = typer.Option(
            None, "--split", help="Serve models trained on this split (default: on all data)."
        ),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
        port: int = typer.Option(8000, "--port", help="Port to listen on."),
        allow_remote: bool = typer.Option(
            False, "--allow-remote", help="Allow a non-loopback --host (e.g. 0.0.0.0)."
        ),
        workers: int = typer.Option(
            1,
            "--workers",
            min=1,
            max=64,
            help="Server processes; each loads the models (memory x workers).",
        ),
        batch: int = typer.Option(
            64,
            "--batch",
            min=1,
            max=1024,
            help="Continuation requests scored together at most (requests that arrive while "
            "one batch is scored form the next); 1 scores each request alone.",
        ),
    ) -> None:
        """The HTTP API (/v1/continuations, /v1/tracks/search, /docs) and the web page at /."""
        from spotifier.errors import require
        from spotifier.progress import note, set_quiet
        from spotifier.serve.run import check_host

        check_host(host, allow_remote)
        require("fastapi", "serve")
        require("uvicorn", "serve")
        from spotifier.serve import Service, create_app
        from spotifier.serve.run import run, run_workers
        from spotifier.serve.service import ensure_trained

        home = home_of(ctx)
        options = {"max_batch": batch}
        shown = "localhost" if host in ("127.0.0.1", "::1") else host
        if workers > 1:
            names = ensure_trained(home, model, split)
            set_quiet(True)
            note(
                f"serving {', '.join(names)} with {workers} workers: open "
                f"http://{shown}:{port}/ (API docs at /docs); Ctrl-C stops"
            )
            run_workers(home, names, split, workers, host, port, allow_remote, app_options=options)
            return
        service = Service.from_home(home, model, split)
        set_quiet(True)
        note(
            f"serving {', '.join(service.models)} ({service.catalog.n_tracks} tracks): "
            f"open http://{shown}:{port}/ (API docs at /docs); Ctrl-C stops"
        )
        run(create_app(service, **options), host, port, allow_remote)
