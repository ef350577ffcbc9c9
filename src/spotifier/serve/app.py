"""The FastAPI application: JSON API under /v1, the web page at /, OpenAPI docs at /docs.

Every error is a JSON object `{"error": code, "message": text}` with a 4xx status: malformed JSON
is 400, a body over `MAX_BODY_BYTES` is 413, a request that breaks the schema (types, `k`,
seed count, unknown fields) is 422, an unknown model is 404.

`POST /v1/continuations` is the hot path. Its requests are scored by one `Batcher` (one scoring
thread), in arrival order, several at once; answers are assembled from pre-encoded JSON bytes. A
valid JSON request without a query string is answered by `FastContinuations` before FastAPI's
routing (orjson + the same pydantic model, then the batcher); anything else (a query string,
another or no content type, any invalid body) goes through the FastAPI route, which gives the errors
above. The other handlers are plain functions on FastAPI's thread pool; they only read the
shared `Service`.

Around both paths, outermost first: `Observe` (metrics, the JSON access log), `AccessControl` (API
keys and the rate limit on /v1/*), `BodySizeLimit` (413 beyond `MAX_BODY_BYTES`, 408 for a body
not received within `body_timeout`, `--body-timeout`). A `Watcher` thread reloads retrained models
and the key file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spotifier import __version__
from spotifier.errors import InvalidInputError, NotFoundError, SpotifierError
from spotifier.serve.access import AccessControl, RateLimiter, load_keys, send_error, send_json
from spotifier.serve.batching import DEFAULT_BATCH, Batcher
from spotifier.serve.observe import Metrics, Observe, note
from spotifier.serve.reload import Watcher
from spotifier.serve.schemas import (
    ContinuationRequest,
    ContinuationResponse,
    ErrorResponse,
    Health,
    ModelsResponse,
    Readiness,
    SearchResponse,
)
from spotifier.serve.search import MAX_LIMIT
from spotifier.serve.service import MAX_BODY_BYTES, Prepared, ServedModel, Service
from spotifier.serve.timeouts import DEFAULT_TIMEOUTS

log = logging.getLogger("spotifier.serve")
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in (
        (400, "Malformed JSON"),
        (404, "Unknown model"),
        (413, "Request body too large"),
        (422, "The request breaks the schema"),
        (401, "A missing or unknown API key (when the server has keys)"),
        (429, "Over the rate limit; see Retry-After"),
    )
}
#: Seconds a client has to send a whole request body (a slow sender must not hold a worker).
BODY_TIMEOUT = DEFAULT_TIMEOUTS.body


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


def error_response(status_code: int, error: str, message: str) -> Response:
    return json_response({"error": error, "message": message}, status_code)


def _static_dir() -> str:
    return str(resources.files("spotifier.serve") / "static")


def create_app(
    service: Service,
    max_batch: int = DEFAULT_BATCH,
    api_keys: str | Path | None = None,
    env_keys: bool = False,
    rate_limit: float | None = None,
    watch: float = 0.0,
    metrics: bool = True,
    access_log: bool = True,
    body_timeout: float = BODY_TIMEOUT,
) -> FastAPI:
    """The application serving `service` (models shared by every request).

    `max_batch`: continuation requests scored together at most (1: each alone).
    `api_keys`: a file of keys (one a line); else, with `env_keys`, `SPOTIFIER_API_KEYS`; with
    keys, every /v1 route needs `Authorization: Bearer KEY`. `rate_limit`: requests per second
    per key (per client address without keys). `watch`: seconds between two looks for retrained
    models and a changed key file (0: only when woken, as SIGHUP does; `app.state.watcher.check()`
    looks once).
    `metrics`: serve /metrics. `access_log`: one JSON line per request on `spotifier.access`.
    `body_timeout`: seconds a client has to send a request body (408 after).
    """
    keys = load_keys(api_keys, env_keys)
    observed = Metrics() if metrics else None
    watcher = Watcher(service, keys, watch)
    if observed is not None:
        _observe_models(service, watcher, observed)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        watcher.stop()

    app = FastAPI(
        title="Spotifier",
        version=__version__,
        description="Automatic playlist continuation: give a title and/or seed tracks, get up to "
        "500 tracks ranked by how likely they belong in the playlist.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.metrics = observed
    app.state.watcher = watcher.start()
    app.state.keys = keys
    batcher: Batcher[bytes] = Batcher(service, service.render_json, max_batch=max_batch)
    app.state.batcher = batcher
    index_html = (resources.files("spotifier.serve") / "static" / "index.html").read_text()
    _install_error_handlers(app)
    app.add_middleware(FastContinuations, service=service, batcher=batcher)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES, timeout=body_timeout)
    limiter = RateLimiter(rate_limit) if rate_limit else None
    app.add_middleware(AccessControl, keys=keys, limiter=limiter)  # before any body is read
    app.add_middleware(Observe, metrics=observed, log_requests=access_log)  # sees every answer
    app.mount("/static", StaticFiles(directory=_static_dir()), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(index_html)

    @app.post(
        "/v1/continuations",
        response_model=ContinuationResponse,
        responses=_ERRORS,
        summary="Continue a playlist",
    )
    async def continuations(
        request: Request,
        body: ContinuationRequest,
        explain: bool = Query(False, description="Same as the body's `explain`."),
    ) -> Response:
        """Up to `k` tracks for the playlist, best first; seeds are never returned.

        Title-only and empty playlists are answered by the model's fallback chain (the title
        model, then popularity). Unknown seed URIs are ignored and listed in `unknown_tracks`.
        """
        prepared = service.prepare(
            body.tracks, body.name, body.k, body.model, explain=explain or body.explain
        )
        _note(request.scope, prepared, len(body.tracks))
        return Response(await batcher.submit(prepared), media_type="application/json")

    @app.get(
        "/v1/tracks/search",
        response_model=SearchResponse,
        responses=_ERRORS,
        summary="Autocomplete tracks",
    )
    def search(
        q: str = Query("", max_length=200, description="Words of a track or artist name."),
        limit: int = Query(20, ge=1, le=MAX_LIMIT),
    ) -> Response:
        """Tracks whose name or artist matches every word (the last one as a prefix)."""
        return json_response(service.search(q, limit))

    @app.get("/v1/models", response_model=ModelsResponse, summary="Served models")
    def models() -> Response:
        return json_response({"default": service.default, "models": service.models_info()})

    @app.get("/healthz", response_model=Health, summary="Liveness")
    def healthz() -> Response:
        """Up; `auth` says whether /v1 routes need an API key (the page asks for one then)."""
        return json_response(
            {
                "status": "ok",
                "models": list(service.models),
                "tracks": service.catalog.n_tracks,
                "auth": keys is not None,
            }
        )

    @app.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Not every model is loaded"}},
        summary="Readiness",
    )
    def readyz() -> Response:
        """200 when every served model is loaded (with its version), else 503."""
        versions = {name: served.version for name, served in service.models.items()}
        missing = [name for name in service.expected if name not in versions]
        status = "ready" if not missing else "loading"
        body = {"status": status, "models": versions, "missing": missing}
        return json_response(body, 200 if not missing else 503)

    if observed is not None:

        @app.get("/metrics", include_in_schema=False)
        def prometheus_metrics() -> Response:
            text, content_type = observed.render()
            return Response(text, media_type=content_type)

    return app


def _observe_models(service: Service, watcher: Watcher, metrics: Metrics) -> None:
    """Batch sizes, and each served model version (now and after every reload), in `metrics`."""
    service.on_batch = metrics.batch.observe

    def loaded(served: ServedModel) -> None:
        metrics.model_loaded(served.name, served.version, served.loaded_at, served.load_seconds)

    for served in service.models.values():
        loaded(served)
    watcher.on_swap = loaded
    watcher.on_failure = lambda name: metrics.reload_failures.labels(name).inc()


def _note(scope: Scope, request: Prepared, seeds: int) -> None:
    note(
        scope,
        model=request.served.name,
        seeds=seeds,
        k=request.k,
        answered_by=request.route,
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            ctx = next(e for e in errors if e.get("type") == "json_invalid").get("ctx", {})
            return error_response(400, "malformed_json", f"malformed JSON: {ctx.get('error', '')}")
        parts = []
        for e in errors[:5]:
            where = ".".join(str(p) for p in e.get("loc", ()))
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
        return error_response(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(SpotifierError)
    async def spotifier_error(request: Request, exc: SpotifierError) -> Response:
        status, error = _spotifier_status(exc)
        return error_response(status, error, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"internal error: {type(exc).__name__}")


class FastContinuations:
    """`POST /v1/continuations` with a valid JSON body and no query string, answered without
    FastAPI's per-request machinery; every other request goes on to the application unchanged.

    The body is parsed with orjson and checked by the same pydantic model FastAPI uses
    (`ContinuationRequest`), then scored by the shared `Batcher`. Whatever this path does not
    accept (invalid JSON or fields, an unknown model, another content type) is replayed to the
    FastAPI route, so errors are exactly the documented ones.
    """

    path = "/v1/continuations"

    def __init__(self, app: ASGIApp, service: Service, batcher: Batcher[bytes]) -> None:
        self.app = app
        self.service = service
        self.batcher = batcher

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != self.path
            or scope["method"] != "POST"
            or scope.get("query_string")
            or not _json_content(scope.get("headers", ()))
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:  # BodySizeLimit, outside, has bounded (and usually joined) the body
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        prepared = self.prepare(body)
        if prepared is None:
            await self.app(scope, _replay(body, receive), send)
            return
        request, seeds = prepared
        _note(scope, request, seeds)
        try:
            answer = await self.batcher.submit(request)
        except SpotifierError as exc:
            status, error = _spotifier_status(exc)
            await _send_error(send, status, error, str(exc))
            return
        except Exception as exc:  # the same JSON 500 as the application's
            log.exception("unexpected error on POST %s", self.path)
            await _send_error(send, 500, "internal_error", f"internal error: {type(exc).__name__}")
            return
        await send_json(send, 200, answer)

    def prepare(self, body: bytes) -> tuple[Prepared, int] | None:
        """The checked request and its number of seeds, or None when FastAPI should answer it
        (with an error)."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if type(data) is not dict:
            return None
        try:
            parsed = ContinuationRequest.model_validate(data)
            request = self.service.prepare(
                parsed.tracks, parsed.name, parsed.k, parsed.model, explain=parsed.explain
            )
            return request, len(parsed.tracks)
        except (ValidationError, SpotifierError):
            return None


def _json_content(headers: Any) -> bool:
    """Whether FastAPI reads this body as JSON: a content-type of application/json (parameters
    such as charset allowed; FastAPI's strict content type refuses a body without one)."""
    for key, value in headers:
        if key == b"content-type":
            return bool(value.split(b";", 1)[0].strip().lower() == b"application/json")
    return False


def _replay(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _spotifier_status(exc: SpotifierError) -> tuple[int, str]:
    if isinstance(exc, NotFoundError):
        return 404, "not_found"
    return (422 if isinstance(exc, InvalidInputError) else 400), "invalid_request"


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with 413, by Content-Length or while streaming,
    and bodies not received within `timeout` seconds with 408."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float = BODY_TIMEOUT) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await _send_error(send, 400, "bad_request", "Content-Length is not a number")
                    return
                if length > self.max_bytes:
                    await _send_error(send, 413, "too_large", self._message())
                    return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        # Read the whole body first (it is bounded), then replay it to the application.
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(self.timeout):
                seen = 0
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    seen += len(chunk)
                    if seen > self.max_bytes:
                        await _send_error(send, 413, "too_large", self._message())
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            message_text = f"the request body was not received within {self.timeout:g} s"
            await _send_error(send, 408, "timeout", message_text)
            return
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    def _message(self) -> str:
        return f"request body is larger than {self.max_bytes} bytes"


async def _send_error(send: Send, status: int, error: str, message: str) -> None:
    await send_error(send, status, error, message)
