"""The registry of named models.

Names map to "module:Class" so that importing the registry imports no heavy library (torch,
lightgbm); a model's module is imported when it is first asked for. A name whose module is not
present in this build is simply not listed.
"""

from __future__ import annotations

import importlib
import importlib.util

from spotifier.errors import NotFoundError
from spotifier.models.base import Recommender

# The order is the order of tables and reports: the seed's models, then the classical ones,
# then the neural and combined ones.
_MODELS: dict[str, str] = {
    "popularity": "spotifier.models.popularity:Popularity",
    "seed-baseline": "spotifier.models.seed_baseline:SeedBaseline",
    "playlist-knn": "spotifier.models.playlist_knn:PlaylistKNN",
    "item-knn": "spotifier.models.item_knn:ItemKNN",
    "als": "spotifier.models.als:ALS",
    "ease": "spotifier.models.ease:EASE",
    "rp3beta": "spotifier.models.rp3beta:RP3Beta",
    "title": "spotifier.models.title:TitleModel",
    "seed-ncf": "spotifier.models.neural:SeedNCF",
    "ncf": "spotifier.models.neural:NCF",
    "seed-combined": "spotifier.models.combined:SeedCombined",
    "hybrid": "spotifier.models.hybrid:Hybrid",
}


def _present(target: str) -> bool:
    module = target.split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def model_names() -> list[str]:
    """Names of the models this build provides, in display order."""
    return [name for name, target in _MODELS.items() if _present(target)]


def model_class(name: str) -> type[Recommender]:
    target = _MODELS.get(name)
    if target is None or not _present(target):
        raise NotFoundError(f"unknown model '{name}'; available: {', '.join(model_names())}")
    module_name, class_name = target.split(":")
    klass: type[Recommender] = getattr(importlib.import_module(module_name), class_name)
    return klass


def create(name: str, overrides: list[str] | None = None) -> Recommender:
    """A fresh, unfitted model with its config built from `key=value` overrides."""
    from spotifier.models.base import parse_overrides

    klass = model_class(name)
    return klass(parse_overrides(klass.config_class, overrides or []))
