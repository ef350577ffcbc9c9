"""Start the HTTP server (uvicorn) — on loopback only unless remote access is asked for."""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spotifier.errors import InvalidInputError
from spotifier.home import Home

_ENV = "SPOTIFIER_SERVE_SPEC"


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1")
    (True, True, True)
    >>> is_loopback("0.0.0.0"), is_loopback("192.168.1.5"), is_loopback("example.org")
    (False, False, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> None:
    if not allow_remote and not is_loopback(host):
        raise InvalidInputError(
            f"refusing to listen on {host}: the server listens on loopback (127.0.0.1) unless "
            "you pass --allow-remote"
        )


def run(
    app: object,
    host: str = "127.0.0.1",
    port: int = 8000,
    allow_remote: bool = False,
    log_level: str = "info",
) -> None:
    """Serve `app` until interrupted (uvloop and httptools when installed: the `serve` extra).

    BLAS is limited to one thread: the other core is the client's, or another worker's.
    """
    import uvicorn
    from threadpoolctl import threadpool_limits

    check_host(host, allow_remote)
    check_port(port)
    threadpool_limits(limits=1)
    uvicorn.run(app, host=host, port=port, log_level=log_level)  # type: ignore[arg-type]


def run_workers(
    home: Home,
    models: Sequence[str],
    split: str | None,
    workers: int,
    host: str = "127.0.0.1",
    port: int = 8000,
    allow_remote: bool = False,
    log_level: str = "info",
    app_options: dict[str, Any] | None = None,
) -> None:
    """Serve with `workers` processes, each loading the models once (memory x workers).

    The models must already be saved (`ensure_trained`); uvicorn builds each worker's app
    with `app_from_env`, which reads what to serve from an environment variable.
    """
    import uvicorn

    check_host(host, allow_remote)
    check_port(port)
    spec = {"home": str(home.root), "models": list(models), "split": split}
    os.environ[_ENV] = json.dumps({**spec, "options": app_options or {}})
    uvicorn.run(
        "spotifier.serve.run:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        # A worker busy on 32 requests may answer the supervisor's ping late (GIL); the default
        # 5 s would get it killed mid-request.
        timeout_worker_healthcheck=120,
    )


def app_from_env() -> Any:
    """uvicorn's app factory in each worker process of `run_workers`."""
    from threadpoolctl import threadpool_limits

    from spotifier.progress import set_quiet
    from spotifier.serve import Service, create_app

    spec = json.loads(os.environ[_ENV])
    set_quiet(True)
    threadpool_limits(limits=1)
    service = Service.from_home(Home(Path(spec["home"])), spec["models"], spec["split"])
    return create_app(service, **spec.get("options", {}))


def check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"--port must be between 0 and 65535, got {port}")
