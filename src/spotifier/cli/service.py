"""CLI commands: service (`spotifier serve`)."""

from __future__ import annotations

from pathlib import Path

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
        settings: list[str] = typer.Option(
            [],
            "--set",
            metavar="MODEL.KEY=VALUE",
            help="Answer with a query-time setting other than the trained one (repeatable; "
            "nothing saved changes), e.g. hybrid.candidates=200: the hybrid's candidates, "
            "album_candidates, cascade_trees and cascade_keep trade some NDCG for CPU "
            "(docs/hybrid.md). Reapplied to every reloaded version.",
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
            help="Server processes; each loads the models (memory x workers). Kept-alive "
            "connections are evened out over them (a busier worker's answer asks its client to "
            "reconnect).",
        ),
        batch: int = typer.Option(
            64,
            "--batch",
            min=1,
            max=1024,
            help="Continuation requests scored together at most (requests that arrive while "
            "one batch is scored form the next); 1 scores each request alone.",
        ),
        api_keys: Path | None = typer.Option(
            None,
            "--api-keys",
            metavar="FILE",
            help="A file of API keys, one per line (# comments allowed), re-read when it "
            "changes; every /v1 route then needs 'Authorization: Bearer KEY'. Without it, keys "
            "may be given in $SPOTIFIER_API_KEYS (comma-separated).",
        ),
        rate_limit: str | None = typer.Option(
            None,
            "--rate-limit",
            metavar="N/s",
            help="Requests per second allowed per API key (per client address without keys), "
            "e.g. 20/s; beyond it: 429 with Retry-After. Each worker counts on its own.",
        ),
        reload_every: float = typer.Option(
            2.0,
            "--reload-every",
            min=0,
            help="Seconds between two looks for retrained models and a changed key file "
            "(0: only on SIGHUP). A new version is loaded beside the old one, then swapped in.",
        ),
        access_log: bool = typer.Option(
            True,
            "--access-log/--no-access-log",
            help="One JSON line per request on stdout (time, route, model, status, ms, seeds, "
            "k; never keys or bodies).",
        ),
        head_timeout: float = typer.Option(
            10.0,
            "--head-timeout",
            metavar="SECONDS",
            help="Seconds a client has to send a request's line and headers, from connecting or "
            "from its previous answer; then 408 and the connection is closed (a client dripping "
            "header bytes cannot hold it).",
        ),
        body_timeout: float = typer.Option(
            30.0,
            "--body-timeout",
            metavar="SECONDS",
            help="Seconds a client has to send a whole request body once its headers are in; "
            "then 408.",
        ),
        keep_alive: float = typer.Option(
            5.0,
            "--keep-alive",
            metavar="SECONDS",
            help="Seconds an idle keep-alive connection stays open between two requests.",
        ),
        drain_timeout: float = typer.Option(
            30.0,
            "--drain-timeout",
            metavar="SECONDS",
            help="On SIGTERM or Ctrl-C, seconds the requests in flight get to finish before "
            "the server exits (no new connection is accepted meanwhile).",
        ),
    ) -> None:
        """The HTTP API (/v1/continuations, /v1/tracks/search, /docs), the web page at /,
        /healthz, /readyz and /metrics (Prometheus). Retrained models are served without a
        restart; SIGTERM finishes the requests in flight, then exits."""
        from spotifier.errors import require
        from spotifier.progress import note, set_quiet
        from spotifier.serve.access import load_keys, parse_rate
        from spotifier.serve.run import check_host
        from spotifier.serve.service import parse_settings
        from spotifier.serve.timeouts import Timeouts

        check_host(host, allow_remote)
        per_model = parse_settings(settings)
        timeouts = Timeouts(head_timeout, body_timeout, keep_alive, drain_timeout)
        rate = parse_rate(rate_limit) if rate_limit is not None else None
        keys = load_keys(api_keys, env=True)  # checked now: a bad key file fails before loading
        require("fastapi", "serve")
        require("uvicorn", "serve")
        require("prometheus_client", "serve")
        from spotifier.models.ranker_native import compile_on_load
        from spotifier.serve import Service, create_app
        from spotifier.serve.run import run, run_workers
        from spotifier.serve.service import ensure_trained

        compile_on_load()  # a server lives long enough to win back compiling its rankers
        home = home_of(ctx)
        options = {
            "max_batch": batch,
            "api_keys": str(api_keys) if api_keys is not None else None,
            "env_keys": api_keys is None,
            "rate_limit": rate,
            "watch": reload_every,
            "access_log": access_log,
        }
        guard = f"; {len(keys)} API key(s)" if keys is not None else ""
        shown = "localhost" if host in ("127.0.0.1", "::1") else host
        if workers > 1:
            names = ensure_trained(home, model, split, per_model)  # settings checked first
            set_quiet(True)
            note(
                f"serving {', '.join(names)} with {workers} workers{guard}: open "
                f"http://{shown}:{port}/ (API docs at /docs); Ctrl-C stops"
            )
            run_workers(
                home,
                names,
                split,
                workers,
                host,
                port,
                allow_remote,
                "info",
                options,
                timeouts,
                per_model,
            )
            return
        service = Service.from_home(home, model, split, per_model)
        set_quiet(True)
        note(
            f"serving {', '.join(service.models)} ({service.catalog.n_tracks} tracks{guard}): "
            f"open http://{shown}:{port}/ (API docs at /docs); Ctrl-C stops"
        )
        app = create_app(service, **options, body_timeout=timeouts.body)
        run(app, host, port, allow_remote, timeouts=timeouts)
