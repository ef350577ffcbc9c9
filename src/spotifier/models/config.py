"""Model configs: each setting declared once, with its type, its allowed values and its meaning.

A model's config is a frozen dataclass deriving from `ModelConfig` (LensKit's per-component config
is the example). A field's allowed values are part of its annotation and its meaning is the
docstring under it:

    factors: PositiveInt = 64
    \"\"\"Latent dimensions: ...\"\"\"

Building a config checks every field (its type, then its range or choice set) and the class's
`check()` for rules between fields, so an invalid config never exists long enough to reach a fit.
The one error, `ConfigError`, names the model, the field, the value and what is allowed. Configs
are built from `--set key=value` strings (`parse_overrides`) and from a saved `config.json`
(`config_from_dict`).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import textwrap
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from spotifier.errors import InvalidInputError


@dataclass(frozen=True)
class Range:
    """An allowed interval for a number; floats must also be finite (no NaN, no infinity)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def allows(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def describe(self, noun: str) -> str:
        """E.g. "an integer >= 1", "a finite number in [0, 1)".

        >>> Range(0, 1, high_open=True).describe("a finite number")
        'a finite number in [0, 1)'
        """
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{noun} in {left}{_num(self.low)}, {_num(self.high)}{right}"
        if self.low is not None:
            return f"{noun} {'>' if self.low_open else '>='} {_num(self.low)}"
        if self.high is not None:
            return f"{noun} {'<' if self.high_open else '<='} {_num(self.high)}"
        return noun


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# The annotations a config field uses; each says its type and its range at once.
PositiveInt = Annotated[int, Range(1)]
NonNegativeInt = Annotated[int, Range(0)]
PositiveFloat = Annotated[float, Range(0, low_open=True)]
NonNegativeFloat = Annotated[float, Range(0)]
UnitFloat = Annotated[float, Range(0, 1)]
#: A share of something that must leave a remainder (a held-out share).
ShareFloat = Annotated[float, Range(0, 1, high_open=True)]
#: Random seeds: numpy, torch and implicit all accept 0 .. 2**32 - 1.
SeedInt = Annotated[int, Range(0, 2**32 - 1)]


class ConfigError(InvalidInputError):
    """One setting of one model is not allowed: names the model, the field, the value, the rule."""

    def __init__(self, owner: str, field: str, value: Any, allowed: str) -> None:
        self.owner, self.field, self.value, self.allowed = owner, field, value, allowed
        shown = repr(value) if isinstance(value, str) else str(value)
        super().__init__(f"{owner}: {field}={shown} is not allowed; {field} must be {allowed}")

    def named(self, owner: str) -> ConfigError:
        """The same error, naming the model (a config only knows its class name)."""
        return ConfigError(owner, self.field, self.value, self.allowed)


@dataclass(frozen=True)
class ModelConfig:
    """Every model's config derives from this; each setting is declared once, in a config."""

    seed: SeedInt = 0
    """Seeds every random choice of the fit (initial factors, samples, shuffles)."""
    batch_size: PositiveInt = 256
    """Queries scored at once: a dense scorer keeps batch x tracks floats, so memory grows with
    it; 256 keeps that under 600 MB at 580k tracks. Lists do not depend on it."""

    def __post_init__(self) -> None:
        for name, spec in _specs(type(self)).items():
            object.__setattr__(self, name, spec.accept(type(self).__name__, getattr(self, name)))
        self.check()

    def check(self) -> None:
        """Rules between fields (a subclass raises `self.reject(...)` when one fails)."""

    def reject(self, field: str, allowed: str) -> ConfigError:
        return ConfigError(type(self).__name__, field, getattr(self, field), allowed)


@dataclass(frozen=True)
class _Spec:
    """A field's type and rule, read once from its annotation."""

    name: str
    kind: Any  # int, float, bool, str, tuple (items in `item`), or a tuple of Literal choices
    rule: Range | None
    optional: bool
    item: _Spec | None = None

    @property
    def allowed(self) -> str:
        if isinstance(self.kind, tuple):
            return "one of " + ", ".join(str(c) for c in self.kind)
        if self.kind is tuple:
            inner = self.item.allowed if self.item else "values"
            return f"a comma-separated list of {_plural(inner)}"
        noun = {int: "an integer", float: "a finite number", bool: "true or false"}.get(
            self.kind, "a string"
        )
        text = self.rule.describe(noun) if self.rule else noun
        return text + (" (or none)" if self.optional else "")

    def accept(self, owner: str, value: Any) -> Any:
        """`value` converted to the field's type (int -> float, list -> tuple), or ConfigError."""
        if value is None and self.optional:
            return None
        converted = self._convert(value)
        if converted is _BAD:
            raise ConfigError(owner, self.name, value, self.allowed)
        return converted

    def _convert(self, value: Any) -> Any:
        if isinstance(self.kind, tuple):
            return value if value in self.kind and isinstance(value, str | int) else _BAD
        if self.kind is tuple:
            if not isinstance(value, list | tuple) or self.item is None:
                return _BAD
            items = tuple(self.item._convert(v) for v in value)
            return _BAD if any(v is _BAD for v in items) or not items else items
        if self.kind is bool:
            return value if isinstance(value, bool) else _BAD
        if self.kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                return _BAD
        elif self.kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return _BAD
            value = float(value)
            if not math.isfinite(value):
                return _BAD
        elif not isinstance(value, str):
            return _BAD
        if self.rule is not None and not self.rule.allows(value):
            return _BAD
        return value


_BAD = object()


def _plural(text: str) -> str:
    for one, many in (("an integer", "integers"), ("a finite number", "finite numbers")):
        if text.startswith(one):
            return many + text[len(one) :]
    return text


def _spec_of(name: str, hint: Any) -> _Spec:
    rule = None
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional, hint = True, args[0]
    if typing.get_origin(hint) is Annotated:
        hint, *extras = typing.get_args(hint)
        rule = next((e for e in extras if isinstance(e, Range)), None)
    origin = typing.get_origin(hint)
    if origin is Literal:
        return _Spec(name, tuple(typing.get_args(hint)), None, optional)
    if origin is tuple:
        inner = typing.get_args(hint)[0] if typing.get_args(hint) else str
        return _Spec(name, tuple, None, optional, _spec_of(name, inner))
    return _Spec(name, hint, rule, optional)


_SPECS: dict[type, dict[str, _Spec]] = {}


def _specs(config_class: type[ModelConfig]) -> dict[str, _Spec]:
    """Each field's spec, read from the annotations once per class."""
    specs = _SPECS.get(config_class)
    if specs is None:
        hints = typing.get_type_hints(config_class, include_extras=True)
        fields = dataclasses.fields(config_class)
        specs = _SPECS[config_class] = {f.name: _spec_of(f.name, hints[f.name]) for f in fields}
    return specs


def allowed(config_class: type[ModelConfig], field: str) -> str:
    """What `field` accepts, in words (e.g. "an integer >= 1")."""
    return _specs(config_class)[field].allowed


def field_docs(config_class: type[ModelConfig]) -> dict[str, str]:
    """Each field's docstring (the string literal under it), read from the source.

    Fields without one are missing from the result (a test requires one for every field).
    """
    docs: dict[str, str] = {}
    for klass in reversed(config_class.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, ModelConfig)):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):  # no source (e.g. a frozen build): no docs
            continue
        body = ast.parse(source).body[0]
        if not isinstance(body, ast.ClassDef):
            continue
        for stmt, after in zip(body.body, body.body[1:], strict=False):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[stmt.target.id] = inspect.cleandoc(after.value.value)
    return docs


# ---------------------------------------------------------------------- building configs
def config_from_dict(config_class: type[ModelConfig], values: Mapping[str, Any]) -> ModelConfig:
    """Build a config from saved values; unknown keys are an error naming them."""
    names = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise InvalidInputError(
            f"unknown setting(s) {', '.join(unknown)} for {config_class.__name__}; "
            f"known: {', '.join(sorted(names))}"
        )
    return config_class(**values)


_C = TypeVar("_C", bound="ModelConfig")


def parse_overrides(
    config_class: type[ModelConfig], pairs: Sequence[str], owner: str | None = None
) -> ModelConfig:
    """Build a config from `key=value` strings, converting each value to the field's type.

    A value that does not read as the field's type is the same `ConfigError` as one out of range.

    >>> @dataclass(frozen=True)
    ... class C(ModelConfig):
    ...     k: PositiveInt = 5
    ...     alpha: float = 0.5
    ...     cosine: bool = False
    >>> parse_overrides(C, ["k=7", "cosine=true"])
    C(seed=0, batch_size=256, k=7, alpha=0.5, cosine=True)
    >>> parse_overrides(C, ["k=seven"], owner="demo")
    Traceback (most recent call last):
    ...
    spotifier.models.config.ConfigError: demo: k='seven' is not allowed; k must be an integer >= 1
    """
    label = owner or config_class.__name__
    values = _values(config_class, pairs, label)
    try:
        return config_class(**values)
    except ConfigError as exc:
        raise exc.named(label) from None


def with_overrides(config: _C, pairs: Sequence[str], owner: str | None = None) -> _C:
    """`config` with `key=value` strings applied, read and checked as `parse_overrides` does.

    >>> @dataclass(frozen=True)
    ... class C(ModelConfig):
    ...     k: PositiveInt = 5
    >>> with_overrides(C(k=9, seed=3), ["k=7"]).k, with_overrides(C(k=9, seed=3), ["k=7"]).seed
    (7, 3)
    """
    label = owner or type(config).__name__
    values = _values(type(config), pairs, label)
    try:
        return dataclasses.replace(config, **values)
    except ConfigError as exc:
        raise exc.named(label) from None


def _values(config_class: type[ModelConfig], pairs: Sequence[str], label: str) -> dict[str, Any]:
    """Each `key=value` string's field and its value read as the field's type."""
    specs = _specs(config_class)
    values: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise InvalidInputError(f"--set expects key=value, got '{pair}'")
        key, raw = (part.strip() for part in pair.split("=", 1))
        if key not in specs:
            raise InvalidInputError(
                f"unknown setting '{key}' for {label}; known: {', '.join(sorted(specs))}"
            )
        values[key] = _read(specs[key], raw, label)
    return values


def _read(spec: _Spec, raw: str, owner: str) -> Any:
    """`raw` read as the field's type (not yet range-checked)."""
    if spec.optional and raw.lower() in ("none", "null", ""):
        return None
    try:
        if isinstance(spec.kind, tuple):
            return next((c for c in spec.kind if str(c) == raw), raw)
        if spec.kind is tuple:
            assert spec.item is not None
            return tuple(_read(spec.item, part.strip(), owner) for part in raw.split(",") if part)
        if spec.kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if spec.kind is int:
            return int(raw)
        if spec.kind is float:
            return float(raw)
        return raw
    except ValueError:
        raise ConfigError(owner, spec.name, raw, spec.allowed) from None
