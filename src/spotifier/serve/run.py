"""Start the HTTP server (uvicorn) — on loopback only unless remote access is asked for.

How the server treats connections (`serve_config`; the seconds are a `Timeouts`, which
`spotifier serve` takes as `--head-timeout`, `--body-timeout`, `--keep-alive`, `--drain-timeout`):
- a client has `head` seconds (10) to send a request's line and headers, from the moment the
  connection opens or its previous answer ends; then it gets 408 and is closed (uvicorn alone
  waits forever for a client that sends one header byte per second);
- a body must arrive within `body` seconds (30; the app's `BodySizeLimit`, 408 after); an idle
  keep-alive connection is closed after `keep_alive` seconds (5);
- SIGTERM (or Ctrl-C) stops accepting connections, lets the requests in flight finish (up to
  `drain` seconds, 30), then exits; SIGHUP makes the model watcher look for retrained models
  and a changed key file at once;
- the access log is the application's JSON lines (`observe`) on stdout, not uvicorn's;
- with `--workers N`, a worker holding more than its fair share of the kept-alive connections
  ends its next answer with `Connection: close`, so that the client reconnects, possibly to
  another worker (`balance`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spotifier.errors import InvalidInputError
from spotifier.home import Home
from spotifier.serve import balance
from spotifier.serve.timeouts import DEFAULT_TIMEOUTS, Timeouts

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
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
) -> None:
    """Serve `app` until SIGTERM or Ctrl-C, then drain (uvloop and httptools when installed: the
    `serve` extra). `timeouts`: uvicorn's side (the body's is the app's, `create_app`).

    BLAS is limited to one thread: the other core is the client's, or another worker's.
    """
    import uvicorn
    from threadpoolctl import threadpool_limits

    check_host(host, allow_remote)
    check_port(port)
    threadpool_limits(limits=1)
    configure_logging()
    _reload_on_sighup(app)
    uvicorn.Server(serve_config(app, host, port, log_level, timeouts)).run()


def serve_config(
    app: object,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    **options: Any,
) -> Any:
    """uvicorn's settings for `app`: the head, keep-alive and drain `timeouts` of the module
    docstring (`options`: more of uvicorn's settings)."""
    import uvicorn

    # uvicorn types the keep-alive and the drain as int, but only hands them to `call_later` and
    # `wait_for`, which take any seconds: a fraction works.
    seconds: dict[str, Any] = {
        "timeout_keep_alive": timeouts.keep_alive,
        "timeout_graceful_shutdown": timeouts.drain,
    }
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_level=log_level,
        http=head_timeout_protocol(timeouts.head),
        access_log=False,
        **seconds,
        **options,
    )


def head_timeout_protocol(seconds: float) -> type:
    """uvicorn's HTTP protocol (httptools, else h11) that closes a connection whose request line
    and headers are not complete `seconds` after it opened or its previous answer ended."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class HeadTimeout(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
        head_timeout = seconds

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._peer = _peer_of(transport)
            if (balancer := balance.installed()) is not None:
                balancer.opened(self._peer)
            self._head_timer: Any = None
            self._head_cycle: Any = None
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._head_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm()  # the first bytes of a new request on a kept-alive connection
            super().data_received(data)
            if self._head_timer is not None and self.cycle is not self._head_cycle:
                self._disarm()  # the parser made a new request cycle: its headers are complete

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if (balancer := balance.installed()) is not None:
                balancer.closed(self._peer)
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._head_cycle = self.cycle
            self._head_timer = self.loop.call_later(self.head_timeout, self._expired)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _expired(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n"
                    b"connection: close\r\n\r\n"
                )
                self.transport.close()

    return HeadTimeout


def _peer_of(transport: Any) -> tuple[str, int] | None:
    """The client's (host, port) as uvicorn puts it in the ASGI scope."""
    from uvicorn.protocols.utils import get_remote_addr

    return get_remote_addr(transport)


def configure_logging() -> None:
    """The access log's JSON lines on stdout (where uvicorn's own access log went: a caller that
    discards stdout and reads stderr only on failure never fills a pipe), the server's own
    messages (reloads, failures) on stderr."""
    for name, stream in (("spotifier.access", sys.stdout), ("spotifier.serve", sys.stderr)):
        logger = logging.getLogger(name)
        if not logger.handlers:
            handler = logging.StreamHandler(stream)
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False


def _reload_on_sighup(app: object) -> None:
    """SIGHUP: look for retrained models and a changed key file now (the main thread only)."""
    watcher = getattr(getattr(app, "state", None), "watcher", None)
    if watcher is not None and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda signum, frame: watcher.wake())


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
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    settings: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Serve with `workers` processes, each loading the models once (memory x workers), with
    the same `timeouts` (the body's goes to each worker's app) and query-time `settings`.

    The models must already be saved (`ensure_trained`). Each worker listens on its own
    SO_REUSEPORT socket and the kernel hands each new connection to one of them (with one shared
    socket, the first worker to wake up accepted 30 of 32 connections arriving at once); by a
    hash, so unevenly, and `balance` then evens out the kept-alive connections.
    A worker that dies after start-up is restarted. Metrics are summed over the workers through
    a metrics folder made for this run and removed at exit (`observe.multiprocess_dir`). SIGHUP is
    passed on to every worker; SIGTERM stops them, each draining its requests in flight.

    Without SO_REUSEPORT (Windows), uvicorn's own workers share one socket instead, with no
    metrics folder (each worker's /metrics counts its own requests only), no head timeout (see
    `_run_uvicorn_workers`) and no SIGHUP.
    """
    check_host(host, allow_remote)
    check_port(port)
    spec: dict[str, Any] = {"home": str(home.root), "models": list(models), "split": split}
    spec["settings"] = {name: list(pairs) for name, pairs in (settings or {}).items()}
    spec["options"] = {**(app_options or {}), "body_timeout": timeouts.body}
    spec["timeouts"] = dataclasses.asdict(timeouts)
    if not hasattr(socket, "SO_REUSEPORT"):  # pragma: no cover - Windows
        _run_uvicorn_workers(spec, workers, host, port, log_level)
        return
    import multiprocessing

    from spotifier.serve.observe import multiprocess_dir, worker_died

    # Held (bound, never listening) for the whole run: port 0 becomes one port for every worker,
    # and a port taken by another program fails here, once.
    reserved = reuse_port_socket(host, port, listen=False)
    port = reserved.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    counts = balance.shared_counts(workers)

    def start(slot: int) -> tuple[Any, float]:
        counts[slot] = -1  # not serving until its socket listens
        args = (spec, host, port, log_level, counts, slot)
        process = context.Process(target=_serve_worker, args=args, name="spotifier-worker")
        process.start()
        return process, time.monotonic()

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def pass_on(signum: int, frame: Any) -> None:
        for process, _ in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, signum)

    processes: list[tuple[Any, float]] = []
    previous = signal.signal(signal.SIGTERM, stop)
    previous_hup = signal.signal(signal.SIGHUP, pass_on)
    try:
        with multiprocess_dir():
            processes += [start(slot) for slot in range(workers)]
            _supervise(processes, start, worker_died, host, port, timeouts.drain)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGHUP, previous_hup)
        reserved.close()


def _supervise(
    processes: list[tuple[Any, float]],
    start: Any,
    died: Any,
    host: str,
    port: int,
    drain: float,
) -> None:
    """Restart workers that die, until interrupted; then stop every worker (each drains for up
    to `drain` seconds)."""
    try:
        while True:
            for i, (process, started) in enumerate(processes):
                process.join(timeout=0.2)
                if process.exitcode is None:
                    continue
                died(process.pid)
                if time.monotonic() - started < 60 and not _ready(host, port):
                    raise InvalidInputError(
                        f"a server worker failed to start (exit code {process.exitcode}); "
                        "see the messages above"
                    )
                log.warning("worker %s exited (code %s): restarting it", i, process.exitcode)
                processes[i] = start(i)
    finally:
        for process, _ in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: the worker drains its requests, then exits
        for process, _ in processes:
            process.join(timeout=drain + 10)
            if process.is_alive():
                process.kill()


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


def _ready(host: str, port: int, attempts: int = 10) -> bool:
    """Whether some worker answers on (host, port) (so one that exited did start once).

    Asked a few times: with SO_REUSEPORT the kernel may still hand one connection to the listening
    socket of the worker that just died, which refuses it although the others answer.
    """
    for attempt in range(attempts):
        try:
            with socket.create_connection((host.strip("[]"), port), timeout=1):
                return True
        except OSError:
            if attempt + 1 < attempts:
                time.sleep(0.1)
    return False


def _serve_worker(
    spec: dict[str, Any], host: str, port: int, log_level: str, counts: Any, slot: int
) -> None:
    """One worker process of `run_workers`: its own copy of the models, then its own socket
    (listening only once loaded: the kernel would otherwise queue connections on a worker
    still loading, while the others idle), its connections counted in `counts[slot]` and
    evened out with the other workers' (`balance`)."""
    import uvicorn

    configure_logging()
    app = _app(spec)
    _reload_on_sighup(app)
    sock = reuse_port_socket(host, port)
    metrics = getattr(app.state, "metrics", None)
    if metrics is not None:
        balancer = balance.Balancer(counts, slot, metrics.connections.set, metrics.moved.inc)
    else:
        balancer = balance.Balancer(counts, slot)
    balance.install(balancer)
    timeouts = Timeouts(**spec["timeouts"])
    config = serve_config(balanced(app), host, port, log_level, timeouts, proxy_headers=False)
    uvicorn.Server(config).run(sockets=[sock])


def balanced(app: Any) -> Any:
    """`app` behind the balancer (`balance.CloseWhenOverShare`) and uvicorn's proxy-header
    middleware, in that order. The balancer knows a connection by its transport's peer, so it must
    see the scope before `client` is rewritten from a trusted proxy's `X-Forwarded-For`; uvicorn
    itself would rewrite it first (its `proxy_headers`, which the worker turns off for this).
    Trusted as by uvicorn: `FORWARDED_ALLOW_IPS`, else loopback."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    trusted = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
    proxied: Any = ProxyHeadersMiddleware(app, trusted_hosts=trusted)  # uvicorn's own ASGI types
    return balance.CloseWhenOverShare(proxied)


def _run_uvicorn_workers(
    spec: dict[str, Any], workers: int, host: str, port: int, log_level: str
) -> None:  # pragma: no cover - Windows
    import uvicorn

    os.environ[_ENV] = json.dumps(spec)
    timeouts = Timeouts(**spec["timeouts"])
    # uvicorn's own workers are spawned with a pickled config: the head timeout's protocol class,
    # made per server, cannot go with it, so these workers have uvicorn's default (none).
    uvicorn.run(
        "spotifier.serve.run:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        timeout_keep_alive=timeouts.keep_alive,  # type: ignore[arg-type]
        timeout_graceful_shutdown=timeouts.drain,  # type: ignore[arg-type]
        # A worker busy on 32 requests may answer the supervisor's ping late (GIL); the default
        # 5 s would get it killed mid-request.
        timeout_worker_healthcheck=120,
    )


def app_from_env() -> Any:
    """uvicorn's app factory in each worker process of `_run_uvicorn_workers`."""
    return _app(json.loads(os.environ[_ENV]))


def _app(spec: dict[str, Any]) -> Any:
    from threadpoolctl import threadpool_limits

    from spotifier.models.ranker_native import compile_on_load
    from spotifier.progress import set_quiet
    from spotifier.serve import Service, create_app

    set_quiet(True)
    threadpool_limits(limits=1)
    compile_on_load()  # as `spotifier serve` does: a fresh (spawned) process starts without it
    home = Home(Path(spec["home"]))
    service = Service.from_home(home, spec["models"], spec["split"], spec.get("settings"))
    return create_app(service, **spec.get("options", {}))


def check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"--port must be between 0 and 65535, got {port}")
