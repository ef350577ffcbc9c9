"""Helpers for tests and benchmarks: a real uvicorn server in a background thread, `spotifier
serve` in a subprocess, and small generated worlds built by the real pipeline (generate, ingest,
train).

    with ServerThread(create_app(world_service(tmp))) as server:
        httpx.get(server.url + "/healthz")
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from spotifier.home import Home
from spotifier.serve.run import serve_config
from spotifier.serve.timeouts import DEFAULT_TIMEOUTS, Timeouts


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ServerThread:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a daemon thread; stop it on exit."""

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
    ) -> None:
        import uvicorn

        self.host = host
        self.port = port or free_port(host)
        # The server's own settings (`timeouts` for the head, keep-alive and drain).
        config = serve_config(app, host, self.port, "warning", timeouts, lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="spotifier-serve", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the test server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def serve_process(
    home: Home, args: Sequence[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`spotifier serve ARGS` on a free 127.0.0.1 port in a subprocess, its stdout (the access
    log) and stderr in `log`: (process, url) once `/readyz` answers 200 (RuntimeError with the
    log if it never does); stopped with SIGTERM (which drains) and waited for at exit."""
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "spotifier", "--home", str(home.root), "serve"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    try:
        for _ in range(900):  # loading and, with workers, spawning: up to ~90 s on a busy machine
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}): {log.read_text()}")
            time.sleep(0.1)
        else:
            raise RuntimeError(f"the server did not become ready: {log.read_text()}")
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=90)


# ---------------------------------------------------------------------- worlds to serve
def build_home(
    root: Path, playlists: int = 400, seed: int = 0, models: Sequence[str] = ("item-knn",)
) -> Home:
    """A home folder built by the real pipeline: generate a world, ingest it, train `models`."""
    from spotifier import store, synth
    from spotifier.models import persist

    home = Home(Path(root) / "home").ensure()
    out = Path(root) / "world"
    synth.generate(out, playlists, seed)
    store.ingest(home, out / "data")
    for name in models:
        persist.train(home, name)
    if "title" not in models:
        persist.train(home, "title")
    return home


def world_service(root: Path, models: Sequence[str] = ("item-knn",), playlists: int = 400) -> Any:
    """A `Service` over a small generated world, built by the real pipeline (`build_home`)."""
    from spotifier.serve.service import Service

    return Service.from_home(build_home(root, playlists, models=models), models)


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus exposition `text` (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0
