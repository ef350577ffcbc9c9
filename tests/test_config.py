"""Model configs: every setting declared once, documented, and checked before any work."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotifier.errors import InvalidInputError
from spotifier.models import registry
from spotifier.models.config import ConfigError, ModelConfig, field_docs, parse_overrides

NAMES = registry.model_names()


@pytest.mark.parametrize("name", NAMES)
def test_every_setting_has_a_docstring_and_a_readable_rule(name: str) -> None:
    config_class = registry.model_class(name).config_class
    docs = field_docs(config_class)
    for field in dataclasses.fields(config_class):
        assert docs.get(field.name, "").strip(), f"{name}: {field.name} has no docstring"
    described = registry.describe(name)[name]["settings"]
    assert set(described) == {f.name for f in dataclasses.fields(config_class)}
    assert all(s["allowed"] for s in described.values())


@pytest.mark.parametrize("name", NAMES)
def test_defaults_are_valid_and_round_trip_through_set_strings(name: str) -> None:
    config_class = registry.model_class(name).config_class
    default = config_class()
    pairs = []
    for key, value in dataclasses.asdict(default).items():
        text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
        pairs.append(f"{key}={text}")
    assert parse_overrides(config_class, pairs) == default


BAD = [
    ("als", "factors=0", "factors must be an integer >= 1"),
    ("als", "factors=-5", "factors must be an integer >= 1"),
    ("als", "factors=abc", "factors='abc' is not allowed"),
    ("als", "factors=2.5", "factors must be an integer >= 1"),
    ("als", "regularization=nan", "regularization must be a finite number > 0"),
    ("als", "alpha=inf", "alpha must be a finite number > 0"),
    ("als", "iterations=-1", "iterations must be an integer >= 1"),
    ("als", "seed=-1", "seed must be an integer in [0, 4294967295]"),
    ("als", "batch_size=0", "batch_size must be an integer >= 1"),
    ("als", "head_size=0", "head_size must be an integer >= 1"),
    ("item-knn", "neighbours=0", "neighbours must be an integer >= 1"),
    ("item-knn", "neighbours=-1", "neighbours must be an integer >= 1"),
    ("item-knn", "similarity=jaccard", "similarity must be one of cosine, bm25"),
    ("item-knn", "b=1.5", "b must be a finite number in [0, 1]"),
    ("ease", "n_items=0", "n_items must be an integer >= 1"),
    ("playlist-knn", "neighbours=-3", "neighbours must be an integer >= 1"),
    ("title", "ngram_max=1", "ngram_max must be at least ngram_min (2)"),
    ("ncf", "arch=cnn", "arch must be one of gmf, mlp, neumf"),
    ("ncf", "mlp_layers=32,0", "mlp_layers must be a comma-separated list of integers >= 1"),
    ("seed-ncf", "test_share=1", "test_share must be a finite number in [0, 1)"),
    ("seed-combined", "latent=0", "latent must be an integer >= 1"),
]


@pytest.mark.parametrize(("name", "pair", "message"), BAD)
def test_a_bad_setting_is_one_error_naming_model_field_value_and_rule(
    name: str, pair: str, message: str
) -> None:
    if name not in NAMES:
        pytest.skip(f"{name} is not available here")
    with pytest.raises(ConfigError) as info:
        registry.create(name, [pair])
    text = str(info.value)
    assert text.startswith(f"{name}: {pair.split('=')[0]}=")
    assert message in text
    assert info.value.exit_code == 2


def test_unknown_setting_and_missing_equals_are_errors() -> None:
    with pytest.raises(InvalidInputError, match="unknown setting 'nope' for item-knn"):
        registry.create("item-knn", ["nope=1"])
    with pytest.raises(InvalidInputError, match="key=value"):
        registry.create("item-knn", ["neighbours"])


def test_a_config_built_in_code_is_checked_too() -> None:
    from spotifier.models.als import ALSConfig

    with pytest.raises(ConfigError, match="ALSConfig: factors=0"):
        ALSConfig(factors=0)
    with pytest.raises(ConfigError, match="factors='64'"):
        ALSConfig(factors="64")  # type: ignore[arg-type]
    assert ALSConfig(regularization=1).regularization == 1.0  # ints are fine for floats
    assert isinstance(ALSConfig(regularization=1).regularization, float)


def test_seed_combined_composes_seed_ncf_settings() -> None:
    from spotifier.models.combined import SeedCombined, SeedCombinedConfig
    from spotifier.models.neural import SeedNCFConfig

    ncf_fields = {f.name for f in dataclasses.fields(SeedNCFConfig)}
    assert ncf_fields < {f.name for f in dataclasses.fields(SeedCombinedConfig)}
    # Declared once: seed-combined's class declares only what seed-ncf lacks.
    assert set(SeedCombinedConfig.__annotations__) == {"neighbours"}
    model = SeedCombined(SeedCombinedConfig(latent=7, fold_in_steps=3, seed=5, neighbours=4))
    assert model.network.config.latent == 7 and model.network.config.fold_in_steps == 3
    assert model.network.config.seed == 5 and model.baseline.config.neighbours == 4


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=12))
def test_any_set_string_is_a_config_or_one_clear_error(raw: str) -> None:
    """Junk never escapes as anything but an InvalidInputError."""
    from spotifier.models.item_knn import ItemKNNConfig

    for key in ("neighbours", "damping", "similarity", "seed"):
        try:
            config = parse_overrides(ItemKNNConfig, [f"{key}={raw}"])
        except InvalidInputError:
            continue
        value = getattr(config, key)
        assert not isinstance(value, float) or math.isfinite(value)


def test_model_config_base_has_seed_and_batch_size() -> None:
    assert {f.name for f in dataclasses.fields(ModelConfig)} == {"seed", "batch_size"}
    assert registry.model_class("item-knn").config_class().batch_size == 512
    assert registry.model_class("als").config_class().batch_size == 64
