"""The registry of named models: which class a name means, which extra it needs, and loading.

Names map to "module:Class" so that importing the registry imports no heavy library (torch,
lightgbm); a model's module is imported when it is first asked for. Each entry names the
packages it needs and the extra that installs them: a model whose packages are missing is
listed as unavailable with that extra, and asking for it is one error naming the extra before
any work starts (not a `ModuleNotFoundError` after an hour of fitting).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spotifier.errors import MissingExtraError, NotFoundError
from spotifier.models.base import Recommender, read_config_file
from spotifier.models.config import ConfigError, allowed, field_docs, parse_overrides


@dataclass(frozen=True)
class Entry:
    """A registered model: where its class lives, the packages it imports, their extra."""

    target: str
    packages: tuple[str, ...] = ()
    extra: str = ""

    @property
    def missing(self) -> list[str]:
        """Packages this model needs that are not installed (found without importing them)."""
        return [p for p in self.packages if not _installed(p)]


# The order is the order of tables and reports: the seed's models, then the classical ones,
# then the neural and combined ones. The hybrid needs its default generators' packages too.
_MODELS: dict[str, Entry] = {
    "popularity": Entry("spotifier.models.popularity:Popularity"),
    "seed-baseline": Entry("spotifier.models.seed_baseline:SeedBaseline"),
    "playlist-knn": Entry("spotifier.models.playlist_knn:PlaylistKNN"),
    "item-knn": Entry("spotifier.models.item_knn:ItemKNN"),
    "als": Entry("spotifier.models.als:ALS", ("implicit",), "models"),
    "ease": Entry("spotifier.models.ease:EASE"),
    "rp3beta": Entry("spotifier.models.rp3beta:RP3Beta"),
    "title": Entry("spotifier.models.title:TitleModel", ("sklearn",), "models"),
    "seed-ncf": Entry("spotifier.models.neural:SeedNCF", ("torch",), "neural"),
    "ncf": Entry("spotifier.models.neural:NCF", ("torch",), "neural"),
    "seed-combined": Entry("spotifier.models.combined:SeedCombined", ("torch",), "neural"),
    "hybrid": Entry(
        "spotifier.models.hybrid:Hybrid", ("lightgbm", "implicit", "sklearn"), "models"
    ),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ModuleNotFoundError, ValueError):
        return False


def _entry(name: str) -> Entry | None:
    entry = _MODELS.get(name)
    if entry is None or not _installed(entry.target.split(":")[0]):
        return None  # not registered, or its module is not in this build
    return entry


def model_names() -> list[str]:
    """Names of the models that can run here, in display order."""
    return [n for n in _MODELS if (e := _entry(n)) is not None and not e.missing]


def unavailable() -> dict[str, str]:
    """Registered models that cannot run here, each with the extra that would install them."""
    out = {}
    for name in _MODELS:
        entry = _entry(name)
        if entry is not None and entry.missing:
            out[name] = entry.extra
    return out


def model_class(name: str) -> type[Recommender]:
    """The class registered as `name`; unknown names and missing extras are one clear error."""
    entry = _entry(name)
    if entry is None:
        raise NotFoundError(f"unknown model '{name}'; available: {', '.join(model_names())}")
    if entry.missing:
        raise MissingExtraError(entry.missing[0], entry.extra, f"model '{name}'")
    module_name, class_name = entry.target.split(":")
    klass: type[Recommender] = getattr(importlib.import_module(module_name), class_name)
    return klass


def create(name: str, overrides: list[str] | None = None) -> Recommender:
    """A fresh, unfitted model with its config built from `key=value` overrides (checked here,
    before any work: a bad value is one `ConfigError` naming the model and the field)."""
    klass = model_class(name)
    try:
        return klass(parse_overrides(klass.config_class, overrides or [], owner=name))
    except ConfigError as exc:
        raise exc.named(name) from None


def load(path: Path) -> Recommender:
    """Load the model saved in `path`, whatever its class (config.json names it)."""
    path = Path(path)
    name, _ = read_config_file(path / "config.json")
    return model_class(name).load(path)


def describe(name: str | None = None, settings: bool = True) -> dict[str, dict[str, Any]]:
    """Every registered model (or just `name`): available here or the extra it needs, and with
    `settings` each setting's default, allowed values, meaning (its docstring) and whether a
    trained model takes a new value for it at query time (`spotifier serve --set`)."""
    names = list(_MODELS) if name is None else [name]
    if name is not None and _entry(name) is None:
        model_class(name)  # the unknown-model error
    out: dict[str, dict[str, Any]] = {}
    for each in names:
        entry = _entry(each)
        if entry is None:
            continue  # its module is not in this build
        if entry.missing:
            out[each] = {"available": False, "extra": entry.extra}
            continue
        out[each] = {"available": True}
        if settings:
            klass = model_class(each)
            config_class = klass.config_class
            docs = field_docs(config_class)
            defaults = dataclasses.asdict(config_class())
            out[each]["settings"] = {
                key: {
                    "default": value,
                    "allowed": allowed(config_class, key),
                    "doc": docs.get(key, ""),
                    "query_time": key in klass.query_settings,
                }
                for key, value in defaults.items()
            }
    return out
