"""What an operator sees: Prometheus metrics at `/metrics`, one JSON access-log line per request.

Metrics (prometheus-client, text format):
- `spotifier_requests_total{route, model, status}`: answered requests (`route` is the API route,
  `/static` or `other`, never the raw path, so a scan of odd paths adds no series);
- `spotifier_request_duration_seconds{route}`: a latency histogram;
- `spotifier_requests_in_progress`: requests being answered now;
- `spotifier_batch_size`: requests per scoring call (see `batching`);
- `spotifier_fallback_routes_total{model, route}`: which link of the chain answered a
  continuation (`model`, `title` or `popularity`);
- `spotifier_worker_connections{pid}` (with `--workers N`): each worker's kept-alive
  connections, and `spotifier_connections_moved_total`: answers that closed their connection to
  even them out (`balance`);
- `spotifier_model_info{model, version}` (1 for the served version, 0 for replaced ones),
  `spotifier_model_loaded_timestamp_seconds{model, version}`, `spotifier_model_load_seconds{model,
  version}` and `spotifier_model_reload_failures_total{model}`.

With several worker processes each process writes its values to files in the directory named by
`PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess mode); whichever worker answers a
scrape sums (counters, histograms) or takes the live maximum (gauges) over all of them, so any
scrape sees the whole server. `spotifier serve --workers N` makes one such directory per run and
removes it at exit (`multiprocess_dir`). One process keeps its values in memory, per application.

The access log (logger `spotifier.access`, on stdout) is one JSON object per request: time,
method, route, model, status, ms, seeds, k (and `answered_by` for continuations). It holds no
header (so no key), no body and no query string.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ENV_DIR = "PROMETHEUS_MULTIPROC_DIR"
#: The key in an ASGI scope where handlers note what the access log and metrics report.
NOTE = "spotifier.note"
access_log = logging.getLogger("spotifier.access")
ROUTES = frozenset(
    {
        "/",
        "/v1/continuations",
        "/v1/tracks/search",
        "/v1/models",
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/openapi.json",
    }
)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def route_of(path: str) -> str:
    """The metric label for a request path.

    >>> route_of("/v1/models"), route_of("/static/app.js"), route_of("/../etc/passwd")
    ('/v1/models', '/static', 'other')
    """
    if path in ROUTES:
        return path
    return "/static" if path.startswith("/static/") else "other"


def note(scope: Scope, **fields: Any) -> None:
    """Record fields of this request (model, seeds, k, answered_by) for the log and metrics."""
    noted = scope.get(NOTE)
    if noted is not None:
        noted.update(fields)


class Metrics:
    """The server's Prometheus metrics (multiprocess mode if `PROMETHEUS_MULTIPROC_DIR` is set)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess_dir = os.environ.get(ENV_DIR) or None
        # Multiprocess values live in files; a registry of its own keeps two apps in one
        # process (tests) from sharing, or clashing on, names otherwise.
        registry = None if self.multiprocess_dir else CollectorRegistry()
        self.registry = registry
        self.requests = Counter(
            "spotifier_requests",
            "HTTP requests answered, by route, model and status.",
            ["route", "model", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "spotifier_request_duration_seconds",
            "Time from the request's arrival to the end of its answer.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_progress = Gauge(
            "spotifier_requests_in_progress",
            "Requests being answered now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.batch = Histogram(
            "spotifier_batch_size",
            "Continuation requests scored together in one scoring call.",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.routes = Counter(
            "spotifier_fallback_routes",
            "Continuations by the link of the fallback chain that answered them.",
            ["model", "route"],
            registry=registry,
        )
        self.model_info = Gauge(
            "spotifier_model_info",
            "1 for the model version served, 0 for versions it replaced.",
            ["model", "version"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.loaded_at = Gauge(
            "spotifier_model_loaded_timestamp_seconds",
            "When this version of the model was loaded (Unix time).",
            ["model", "version"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.load_seconds = Gauge(
            "spotifier_model_load_seconds",
            "How long loading this version of the model took.",
            ["model", "version"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.reload_failures = Counter(
            "spotifier_model_reload_failures",
            "New model versions that failed to load (the previous one kept serving).",
            ["model"],
            registry=registry,
        )
        self.connections = Gauge(
            "spotifier_worker_connections",
            "Kept-alive connections this worker process holds (--workers N).",
            registry=registry,
            multiprocess_mode="liveall",
        )
        self.moved = Counter(
            "spotifier_connections_moved",
            "Answers that closed their connection to even out the workers' connections.",
            registry=registry,
        )
        self._versions: dict[str, str] = {}

    def model_loaded(self, model: str, version: str, at: float, seconds: float | None) -> None:
        """Mark `version` as the one served for `model` (and the previous one as replaced)."""
        previous = self._versions.get(model)
        if previous is not None and previous != version:
            self.model_info.labels(model, previous).set(0)
        self._versions[model] = version
        self.model_info.labels(model, version).set(1)
        self.loaded_at.labels(model, version).set(at)
        if seconds is not None:
            self.load_seconds.labels(model, version).set(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type (summed over workers in multiprocess mode)."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        registry = self.registry
        if registry is None:
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)
        return generate_latest(registry), CONTENT_TYPE_LATEST


@contextlib.contextmanager
def multiprocess_dir() -> Iterator[str]:
    """A fresh metrics directory for one run of several workers, set in `PROMETHEUS_MULTIPROC_DIR`
    (workers inherit it) and removed, with the variable, at exit.

    It must be set before the workers import prometheus-client, which reads it once.
    """
    previous = os.environ.get(ENV_DIR)
    path = tempfile.mkdtemp(prefix="spotifier-metrics-")
    os.environ[ENV_DIR] = path
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(ENV_DIR, None)
        else:
            os.environ[ENV_DIR] = previous
        shutil.rmtree(path, ignore_errors=True)


def worker_died(pid: int) -> None:
    """Forget a dead worker's live gauges (its counters still count)."""
    if os.environ.get(ENV_DIR):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


class Observe:
    """ASGI middleware: times every request, counts it, and writes its access-log line."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None, log_requests: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        noted: dict[str, Any] = {}
        scope[NOTE] = noted
        status = 500  # unless an answer starts

        async def send_noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics = self.metrics
        if metrics is not None:
            metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_noting)
        finally:
            seconds = time.perf_counter() - started
            route = route_of(scope["path"])
            if metrics is not None:
                metrics.in_progress.dec()
                model = str(noted.get("model", ""))
                metrics.requests.labels(route, model, str(status)).inc()
                metrics.latency.labels(route).observe(seconds)
                if status == 200 and "answered_by" in noted:
                    metrics.routes.labels(model, noted["answered_by"]).inc()
            if self.log_requests and access_log.isEnabledFor(logging.INFO):
                line = {
                    "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "method": scope.get("method"),
                    "route": route,
                    "model": noted.get("model"),
                    "status": status,
                    "ms": round(seconds * 1000, 2),
                    "seeds": noted.get("seeds"),
                    "k": noted.get("k"),
                }
                if "answered_by" in noted:
                    line["answered_by"] = noted["answered_by"]
                access_log.info(orjson.dumps(line).decode())
