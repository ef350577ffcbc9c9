"""The HTTP service: a JSON API that continues playlists, and a web page to build one.

`Service` loads the models and catalogue once; `create_app(service)` is the FastAPI application;
`run(app, host, port)` starts uvicorn on loopback. `spotifier serve` wires them together.
"""

from __future__ import annotations

from typing import Any

from spotifier.serve.search import TrackIndex
from spotifier.serve.service import (
    MAX_BODY_BYTES,
    MAX_K,
    MAX_SEEDS,
    ServedModel,
    Service,
    default_model_names,
    saved_model_names,
)


def create_app(service: Service, **options: Any) -> Any:
    """The FastAPI application for `service` (imports FastAPI only when asked); `options` go
    to `spotifier.serve.app.create_app`."""
    from spotifier.errors import require

    require("fastapi", "serve")
    from spotifier.serve.app import create_app as _create_app

    return _create_app(service, **options)


__all__ = [
    "MAX_BODY_BYTES",
    "MAX_K",
    "MAX_SEEDS",
    "ServedModel",
    "Service",
    "TrackIndex",
    "create_app",
    "default_model_names",
    "saved_model_names",
]
