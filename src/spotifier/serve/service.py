"""What the HTTP layer serves: models loaded once, the catalogue, and the track search index.

A `Service` is built once at start-up and shared by every request: the models (each in its
fallback chain) and the catalogue's views (`ServedCatalog`: names as plain lists, fast to describe
500 items, and the `TrackIndex` in the default model's popularity order). Requests only read it.
The one change after start-up is `swap`, which replaces a model by a newer version (hot reload,
`serve.reload`) by replacing the whole `models` dict in one assignment, and with it the catalogue
views when they changed (the store grew, or the default model's popularity moved): a request holds
the `ServedModel` it was prepared with, so it finishes on that version and needs no lock.

A continuation is three steps, so that requests can be scored in batches (`batching.Batcher`):
`prepare` (check, resolve seed URIs), `score` (one `recommend` call per model and k for a whole
batch) and `render` / `render_json` (the answer as a dict, or as the same JSON bytes assembled
from pre-encoded fragments). `continuation` does all three for one request.

Which models are served (`default_model_names`): the names given (`--model`, repeatable, the first
is the default); else `hybrid` if it is saved; else the first saved model in `PREFERENCE` order;
else `item-knn` (or `popularity` when item-knn is not in this build) is trained now.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import orjson

from spotifier.data import Catalog, Query
from spotifier.errors import InvalidInputError, NotFoundError
from spotifier.home import Home
from spotifier.models import persist, registry
from spotifier.models.chain import MAX_K, FallbackChain, check_k
from spotifier.serve.catalog import ServedCatalog
from spotifier.serve.search import TrackIndex

#: Saved models in the order a server prefers them when no `--model` is given.
PREFERENCE = (
    "hybrid",
    "item-knn",
    "als",
    "ease",
    "rp3beta",
    "playlist-knn",
    "ncf",
    "seed-combined",
    "seed-ncf",
    "seed-baseline",
    "title",
    "popularity",
)
#: Bounds on one request (the API answers 4xx beyond them).
MAX_SEEDS = 1000
MAX_BODY_BYTES = 1_000_000


@dataclass(frozen=True)
class ServedModel:
    """One loaded model, its fallback chain, and what `/v1/models` says about it."""

    name: str
    chain: FallbackChain
    meta: dict[str, Any] = field(default_factory=dict)
    #: Seconds it took to load (None: not measured), and when it was loaded (Unix time).
    load_seconds: float | None = None
    loaded_at: float = field(default_factory=time.time)
    #: The query-time settings it answers with instead of its trained ones (`serve --set`).
    settings: tuple[str, ...] = ()

    @property
    def version(self) -> str:
        """Training time and data fingerprint: changes whenever the model is retrained."""
        trained = str(self.meta.get("trained_at", "unknown"))
        fingerprint = str(self.meta.get("data_fingerprint", ""))[:10]
        return f"{trained}/{fingerprint}" if fingerprint else trained

    @cached_property
    def json_head(self) -> bytes:
        """The start of every answer of this model, up to the route's value."""
        model, version = orjson.dumps(self.name), orjson.dumps(self.version)
        return b'{"model":' + model + b',"model_version":' + version + b',"route":'

    def info(self, default: bool) -> dict[str, Any]:
        title = self.chain.title
        return {
            "name": self.name,
            "version": self.version,
            "default": default,
            "title_fallback": title.name if title is not None else None,
            "trained_at": self.meta.get("trained_at"),
            "n_playlists": self.meta.get("n_playlists"),
            "n_tracks": self.chain.primary.n_tracks,
            "split": self.meta.get("split"),
            "settings": list(self.settings),
        }


@dataclass(frozen=True)
class Prepared:
    """One checked continuation request, ready to be scored (alone or in a batch)."""

    served: ServedModel
    query: Query
    k: int
    unknown: list[str]
    explain: bool = False
    #: Which link of the chain answers it: 'model', 'title' or 'popularity'.
    route: str = "model"


_NO_ITEMS = np.zeros(0, dtype=np.int32)
_NO_SCORES = np.zeros(0, dtype=np.float32)


def saved_model_names(home: Home, split: str | None = None) -> list[str]:
    """Registered models with a saved copy in the home folder, in `PREFERENCE` order."""
    available = set(registry.model_names())
    ordered = [n for n in PREFERENCE if n in available]
    ordered += [n for n in registry.model_names() if n not in ordered]
    return [n for n in ordered if (home.model_dir(n, split) / "meta.json").exists()]


def default_model_names(home: Home, split: str | None = None) -> list[str]:
    """The model to serve when none is named (see the module docstring for the rule)."""
    saved = saved_model_names(home, split)
    if saved:
        return saved[:1]
    return ["item-knn" if "item-knn" in registry.model_names() else "popularity"]


def ensure_trained(
    home: Home,
    names: Sequence[str],
    split: str | None = None,
    settings: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """The model names to serve (the default rule when empty), each (with its fallback chain)
    trained first if missing or stale (`persist.ensure_trained`); query-time `settings` are
    checked before any training (`check_settings`)."""
    names = list(dict.fromkeys(names)) or default_model_names(home, split)
    check_settings(settings or {}, names)
    persist.ensure_trained(home, names, split)
    return names


def parse_settings(pairs: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """`MODEL.KEY=VALUE` strings (`serve --set`) as `KEY=VALUE` strings per model name.

    >>> parse_settings(["hybrid.candidates=200", "hybrid.cascade_keep=300"])
    {'hybrid': ('candidates=200', 'cascade_keep=300')}
    """
    out: dict[str, list[str]] = {}
    for pair in pairs:
        target, equals, value = pair.partition("=")
        name, dot, key = target.strip().partition(".")
        if not (dot and name and key.strip() and equals):
            raise InvalidInputError(
                f"--set expects MODEL.KEY=VALUE (e.g. hybrid.candidates=200), got '{pair}'"
            )
        out.setdefault(name, []).append(f"{key.strip()}={value.strip()}")
    return {name: tuple(values) for name, values in out.items()}


def check_settings(
    settings: Mapping[str, Sequence[str]], names: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """`settings` checked before any model is loaded: each for a served model, each a setting
    that model takes at query time, each value of the right type and range."""
    for name in names:
        registry.model_class(name)  # unknown names fail before any loading
    for name, pairs in settings.items():
        if name not in names:
            raise InvalidInputError(
                f"--set {name}.{pairs[0]}: {name} is not served (served: {', '.join(names)})"
            )
        registry.model_class(name)().with_query_settings(pairs)  # keys, types and ranges
    return {name: tuple(pairs) for name, pairs in settings.items()}


def check_fits(served: ServedModel, catalog: Catalog) -> None:
    """Refuse a model that knows tracks `catalog` does not (trained on another store)."""
    n_tracks = served.chain.primary.n_tracks
    if n_tracks > catalog.n_tracks:
        raise InvalidInputError(
            f"model '{served.name}' knows {n_tracks} tracks but the store has "
            f"{catalog.n_tracks}; retrain it on this store: spotifier train {served.name}"
        )


class Service:
    """Models, catalogue and search index shared read-only by all requests."""

    def __init__(self, catalog: Catalog, models: Sequence[ServedModel]) -> None:
        if not models:
            raise InvalidInputError("a service needs at least one model")
        self.models = {m.name: m for m in models}
        self.default = models[0].name
        #: The models this service was asked to serve (`/readyz` checks each is loaded).
        self.expected = list(self.models)
        for served in models:
            check_fits(served, catalog)
        #: Where the models were loaded from (home, split), for hot reload; None when built here.
        self.source: tuple[Home, str | None] | None = None
        #: Called with the size of every scoring call (the metrics' batch-size histogram).
        self.on_batch: Callable[[int], None] | None = None
        #: Names, JSON fragments and the search index, in the default model's popularity order.
        self.tracks = ServedCatalog.build(catalog, models[0].chain.primary.popularity_counts)

    @property
    def catalog(self) -> Catalog:
        return self.tracks.catalog

    @property
    def settings(self) -> dict[str, tuple[str, ...]]:
        """The query-time settings each served model answers with (`serve --set`), by name."""
        return {name: m.settings for name, m in self.models.items() if m.settings}

    @property
    def popularity(self) -> np.ndarray:
        """Each catalogue track's play count in the default model's data: the search order."""
        return self.tracks.popularity

    @property
    def index(self) -> TrackIndex:
        return self.tracks.index

    @classmethod
    def from_home(
        cls,
        home: Home,
        names: Sequence[str] = (),
        split: str | None = None,
        settings: Mapping[str, Sequence[str]] | None = None,
    ) -> Service:
        """Load (or train, for the documented default) the models and the catalogue once.

        `settings`: query-time settings per served model name (`check_settings`), applied after
        each load; a hot reload applies the replaced version's again (`ServedModel.settings`)."""
        from spotifier import store

        names = list(dict.fromkeys(names)) or default_model_names(home, split)
        settings = check_settings(settings or {}, names)
        catalog = store.load_catalog(home)
        served = []
        for name in names:
            started = time.perf_counter()
            chain = persist.load_chain(home, name, split)
            meta = persist.read_meta(home, name, split)  # after: load_chain may train it first
            chain.primary.with_query_settings(settings.get(name, ()))
            served.append(
                ServedModel(
                    name,
                    chain,
                    meta,
                    time.perf_counter() - started,
                    settings=tuple(settings.get(name, ())),
                )
            )
        service = cls(catalog, served)
        service.source = (home, split)
        return service

    def refreshed_tracks(
        self, served: ServedModel, load_catalog: Callable[[], Catalog]
    ) -> ServedCatalog:
        """The catalogue views to serve once `served` replaces the model of its name: the store's
        catalogue read again (`load_catalog`) if `served` knows tracks it lacks, the search order
        of `served` if it is the default model. Built beside the current ones; `self.tracks`
        when nothing changes."""
        default = served if served.name == self.default else self.model(None)
        counts = default.chain.primary.popularity_counts
        return self.tracks.refreshed(served.chain.primary.n_tracks, counts, load_catalog)

    def swap(self, served: ServedModel, tracks: ServedCatalog | None = None) -> ServedModel:
        """Serve `served` in place of the model of the same name, and `tracks` (when given, from
        `refreshed_tracks`) as the catalogue views; returns the replaced model.

        Each is assigned at once, the catalogue first: it only ever grows (track indices are
        stable), so a request on the old model renders right with it. A request prepared before
        the swap keeps (and finishes on) the model version it holds; one prepared after gets the
        new one.
        """
        old = self.model(served.name)
        tracks = tracks if tracks is not None else self.tracks
        check_fits(served, tracks.catalog)
        self.tracks = tracks
        self.models = {**self.models, served.name: served}
        return old

    # ------------------------------------------------------------------ requests
    def model(self, name: str | None) -> ServedModel:
        if name is None:
            return self.models[self.default]
        served = self.models.get(name)
        if served is None:
            raise NotFoundError(
                f"model '{name}' is not served here; served: {', '.join(self.models)}"
            )
        return served

    def describe(self, track: int) -> dict[str, Any]:
        return self.tracks.describe(track)

    def prepare(
        self,
        tracks: Sequence[str],
        name: str | None = None,
        k: int = MAX_K,
        model: str | None = None,
        explain: bool = False,
    ) -> Prepared:
        """Check one request and resolve its seeds: everything but the scoring."""
        check_k(k)
        if len(tracks) > MAX_SEEDS:
            raise InvalidInputError(f"at most {MAX_SEEDS} tracks per request, got {len(tracks)}")
        served = self.model(model)
        query, unknown = served.chain.query(self.catalog, tracks, name)
        return Prepared(served, query, k, unknown, explain, served.chain.route(query))

    def score(self, requests: Sequence[Prepared]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(items, scores) for each prepared request, scored in one batch per (model, k).

        Each request is scored by the model version it was prepared with (a hot reload between
        `prepare` and `score` does not move it). Rows of a batch are computed independently by
        every model, so a request gets the same items as when it is scored alone (dense products
        may round the last float bit differently; see `bench/RESULTS.md`).
        """
        if self.on_batch is not None:
            self.on_batch(len(requests))
        groups: dict[tuple[int, int], list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault((id(request.served), request.k), []).append(i)
        out: list[tuple[np.ndarray, np.ndarray]] = [(_NO_ITEMS, _NO_SCORES)] * len(requests)
        for (_, k), rows in groups.items():
            chain = requests[rows[0]].served.chain
            block = chain.recommend([requests[i].query for i in rows], k)
            for j, i in enumerate(rows):
                out[i] = block.row(j)
        return out

    def render(self, request: Prepared, items: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
        """The JSON body of `POST /v1/continuations` as a dict (with reasons when asked)."""
        tracks = self.tracks
        uris, names, artists, albums = tracks.uris, tracks.names, tracks.artists, tracks.albums
        # One comprehension, no call per item: this loop is most of a request's Python time.
        out = [
            {
                "uri": uris[t],
                "name": names[t],
                "artist": artists[t],
                "album": albums[t],
                "score": None if math.isnan(s) else s,
            }
            for t, s in zip(items.tolist(), scores.tolist(), strict=True)
        ]
        served = request.served
        if request.explain:
            for item, reason in zip(out, served.chain.explain(request.query, items), strict=True):
                item["reason"] = reason
        return {
            "model": served.name,
            "model_version": served.version,
            "route": request.route,
            "items": out,
            "unknown_tracks": request.unknown,
        }

    def render_json(self, request: Prepared, items: np.ndarray, scores: np.ndarray) -> bytes:
        """`orjson.dumps(self.render(...))`, byte for byte, assembled from pre-encoded items.

        Each track's `{"uri":…,"name":…,"artist":…,"album":…,"score":` is encoded once, at start;
        an answer interleaves those fragments with the scores, which orjson formats in one call
        (NaN becomes null, exactly as `render` writes None). No Python loop runs per item.
        """
        if request.explain:
            return orjson.dumps(self.render(request, items, scores))
        served = request.served
        tracks = items.tolist()
        parts = [b"},"] * (3 * len(tracks))  # fragment, score, "}," for each item
        parts[0::3] = map(self.tracks.fragments.__getitem__, tracks)
        parts[1::3] = orjson.dumps(scores.tolist())[1:-1].split(b",") if tracks else []
        if parts:
            parts[-1] = b"}"
        return b"".join(
            (
                served.json_head,
                orjson.dumps(request.route),
                b',"items":[',
                *parts,
                b'],"unknown_tracks":',
                orjson.dumps(request.unknown),
                b"}",
            )
        )

    def continuation(
        self,
        tracks: Sequence[str],
        name: str | None = None,
        k: int = MAX_K,
        model: str | None = None,
        explain: bool = False,
    ) -> dict[str, Any]:
        """Continue one playlist: the JSON body of `POST /v1/continuations`."""
        request = self.prepare(tracks, name, k, model, explain)
        ((items, scores),) = self.score([request])
        return self.render(request, items, scores)

    def search(self, q: str, limit: int = 20) -> dict[str, Any]:
        """Autocomplete over track and artist names: the body of `GET /v1/tracks/search`."""
        tracks = self.tracks  # one version for the whole answer
        hits = tracks.index.search(q, limit)
        items = []
        for track in hits.tolist():
            item = tracks.describe(track)
            item["popularity"] = int(tracks.popularity[track])
            items.append(item)
        return {"query": q, "items": items}

    def models_info(self) -> list[dict[str, Any]]:
        return [m.info(default=(m.name == self.default)) for m in self.models.values()]
