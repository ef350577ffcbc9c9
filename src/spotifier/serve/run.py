"""Start the HTTP server (uvicorn) — on loopback only unless remote access is asked for."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spotifier.errors import InvalidInputError
from spotifier.home import Home

_ENV = "SPOTIFIER_SERVE_SPEC"
log = logging.getLogger("spotifier.serve")


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

    The models must already be saved (`ensure_trained`). Each worker listens on its own
    SO_REUSEPORT socket, so the kernel spreads connections evenly over the workers (with one
    shared socket, the first worker to wake up accepted 30 of 32 connections arriving at once).
    A worker that dies after start-up is restarted. Without SO_REUSEPORT (Windows), uvicorn's
    own workers share one socket.
    """
    check_host(host, allow_remote)
    check_port(port)
    spec: dict[str, Any] = {"home": str(home.root), "models": list(models), "split": split}
    spec["options"] = app_options or {}
    if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - Windows
        _run_uvicorn_workers(spec, workers, host, port, log_level)
        return
    import multiprocessing
    import signal

    # Held (bound, never listening) for the whole run: port 0 becomes one port for every worker,
    # and a port taken by another program fails here, once.
    reserved = reuse_port_socket(host, port, listen=False)
    port = reserved.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    args = (spec, host, port, log_level)

    def start() -> tuple[Any, float]:
        process = context.Process(target=_serve_worker, args=args, name="spotifier-worker")
        process.start()
        return process, time.monotonic()

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    processes = [start() for _ in range(workers)]
    try:
        while True:
            for i, (process, started) in enumerate(processes):
                process.join(timeout=0.2)
                if process.exitcode is None:
                    continue
                if time.monotonic() - started < 60 and not _ready(host, port):
                    raise InvalidInputError(
                        f"a server worker failed to start (exit code {process.exitcode}); "
                        "see the messages above"
                    )
                log.warning("worker %s exited (code %s): restarting it", i, process.exitcode)
                processes[i] = start()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for process, _ in processes:
            if process.is_alive():
                process.terminate()
        for process, _ in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        reserved.close()


def reuse_port_socket(host: str, port: int, listen: bool = True) -> socket.socket:
    """A TCP socket on (host, port) with SO_REUSEPORT: several processes may listen on it."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise InvalidInputError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    if listen:
        sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _ready(host: str, port: int) -> bool:
    """Whether some worker answers on (host, port) (so one that exited did start once)."""
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=1):
            return True
    except OSError:
        return False


def _serve_worker(spec: dict[str, Any], host: str, port: int, log_level: str) -> None:
    """One worker process of `run_workers`: its own socket, its own copy of the models."""
    import uvicorn

    sock = reuse_port_socket(host, port)
    app = _app(spec)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level)
    uvicorn.Server(config).run(sockets=[sock])


def _run_uvicorn_workers(
    spec: dict[str, Any], workers: int, host: str, port: int, log_level: str
) -> None:  # pragma: no cover - Windows
    import uvicorn

    os.environ[_ENV] = json.dumps(spec)
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
    """uvicorn's app factory in each worker process of `_run_uvicorn_workers`."""
    return _app(json.loads(os.environ[_ENV]))


def _app(spec: dict[str, Any]) -> Any:
    from threadpoolctl import threadpool_limits

    from spotifier.progress import set_quiet
    from spotifier.serve import Service, create_app

    set_quiet(True)
    threadpool_limits(limits=1)
    service = Service.from_home(Home(Path(spec["home"])), spec["models"], spec["split"])
    return create_app(service, **spec.get("options", {}))


def check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"--port must be between 0 and 65535, got {port}")
