"""Request and response shapes of the HTTP API (they are also its OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from spotifier.serve.service import MAX_K, MAX_SEEDS

TrackUri = Annotated[str, Field(max_length=200, examples=["spotify:track:0UaMYEvWZi0ZqiDOoHU3YI"])]


def _whole_number(value: Any) -> Any:
    """JSON Schema counts 500.0 as an integer; so do we (but not "500" or true)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


class ContinuationRequest(BaseModel):
    """A playlist to continue: a title, seed tracks, both, or neither."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(None, max_length=1000, description="The playlist's title.")
    tracks: list[TrackUri] = Field(
        default_factory=list,
        max_length=MAX_SEEDS,
        description=f"Seed track URIs in playlist order (at most {MAX_SEEDS}).",
    )
    k: WholeNumber = Field(MAX_K, ge=1, le=MAX_K, description="How many tracks to return.")
    model: str | None = Field(
        None, max_length=100, description="One of the served models (default: the first)."
    )
    explain: bool = Field(False, description="Add a short reason per item where the model can.")


class Item(BaseModel):
    uri: str
    name: str
    artist: str
    album: str
    score: float | None = Field(
        description="The model's score; null for popularity back-fill (no opinion)."
    )
    reason: str | None = Field(None, description="Why this item (only with explain=true).")


class ContinuationResponse(BaseModel):
    model: str
    model_version: str
    route: str = Field(
        description="Which link of the fallback chain answered: model, title, popularity."
    )
    items: list[Item]
    unknown_tracks: list[str] = Field(description="Seed URIs the model does not know (ignored).")


class SearchHit(BaseModel):
    uri: str
    name: str
    artist: str
    album: str
    popularity: int = Field(description="How many training playlists contain the track.")


class SearchResponse(BaseModel):
    query: str
    items: list[SearchHit]


class ModelInfo(BaseModel):
    name: str
    version: str
    default: bool
    title_fallback: str | None
    trained_at: str | None
    n_playlists: int | None
    n_tracks: int
    split: str | None
    settings: list[str] = Field(
        default_factory=list,
        description="Query-time settings it answers with instead of its trained ones "
        "(`spotifier serve --set`), as KEY=VALUE.",
    )


class ModelsResponse(BaseModel):
    default: str
    models: list[ModelInfo]


class Health(BaseModel):
    status: str
    models: list[str]
    tracks: int
    auth: bool = Field(description="Whether /v1 routes need `Authorization: Bearer KEY`.")


class Readiness(BaseModel):
    status: str = Field(description="'ready' when every served model is loaded, else 'loading'.")
    models: dict[str, str] = Field(description="Each loaded model's version.")
    missing: list[str] = Field(description="Served models not loaded (yet).")


class ErrorResponse(BaseModel):
    error: str = Field(description="A short machine-readable code, e.g. 'invalid_request'.")
    message: str = Field(description="What is wrong, naming the field at fault.")
