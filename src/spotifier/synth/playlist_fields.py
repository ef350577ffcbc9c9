"""The generator's playlist-level fields: titles and descriptions, followers, edits.

Split from `sampler` (which draws the entries); the draws happen in the same order, so a world
is byte-identical. `follower_log_scale` and `FOLLOWER_ALPHA` are shared with the followers
study's noise ceiling.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from spotifier.mpd.format import LATEST_MODIFIED_AT, normalize_name
from spotifier.synth.names import descriptions, noise_titles


class World(Protocol):
    """What these draws read of `sampler.World` (a protocol: no import back into `sampler`)."""

    seed: int
    noise_cdf: np.ndarray
    title_tables: list[Any]
    taste_follow: np.ndarray


DAY = 86_400
TASTE_TITLE_SHARE = 0.25
COLLABORATIVE_SHARE = 0.02
DESCRIPTION_SHARE = 0.019
FOLLOWER_ALPHA = 2.0
FOLLOWER_SCALE = 0.95

_VARIANTS = 10


def _variant(title: str, v: int) -> str:
    """A raw spelling of a normalized title (case and punctuation only)."""
    if v < 4:
        return title
    if v < 7:
        return title.title()
    if v == 7:
        return title.upper()
    if v == 8:
        return title.capitalize() + "!"
    return title.capitalize()


def draw_titles(
    world: World, rng: np.random.Generator, n: int, first_pid: int, dominant: np.ndarray
) -> tuple[list[str], dict[int, str], np.ndarray]:
    from_taste = rng.random(n) < TASTE_TITLE_SHARE
    u = rng.random(n)
    variant = rng.integers(0, _VARIANTS, n)
    noise_ids = np.searchsorted(world.noise_cdf, rng.random(n), side="right")
    noise = noise_titles(noise_ids[~from_taste], world.seed)
    noise_iter = iter(noise)
    names = []
    for i in range(n):
        if from_taste[i]:
            cum, titles = world.title_tables[dominant[i]]
            j = min(int(np.searchsorted(cum, u[i], side="right")), len(titles) - 1)
            names.append(_variant(titles[j], int(variant[i])))
        else:
            names.append(next(noise_iter))
    has_desc = np.flatnonzero(rng.random(n) < DESCRIPTION_SHARE)
    desc_text = descriptions(first_pid + has_desc, world.seed, [names[i] for i in has_desc])
    collaborative = rng.random(n) < COLLABORATIVE_SHARE
    return names, dict(zip(has_desc.tolist(), desc_text, strict=True)), collaborative


def follower_log_scale(
    lengths: np.ndarray,
    n_artists: np.ndarray,
    collaborative: np.ndarray,
    has_description: np.ndarray,
    modified_at: np.ndarray,
) -> np.ndarray:
    """The feature part of log s, the followers' Lomax scale (the taste effect and noise are
    added by the sampler). The followers study's noise ceiling uses this same function."""
    age_years = (LATEST_MODIFIED_AT - modified_at) / (365.25 * DAY)
    return (
        math.log(FOLLOWER_SCALE)
        + 0.35 * np.log(lengths / 50.0)
        - 0.8 * (n_artists / lengths - 0.6)
        + 0.6 * collaborative
        + 0.9 * has_description
        + 0.12 * age_years
    )


def draw_followers(
    world: World,
    rng: np.random.Generator,
    lengths: np.ndarray,
    n_artists: np.ndarray,
    collaborative: np.ndarray,
    modified_at: np.ndarray,
    dominant: np.ndarray,
    has_description: np.ndarray,
) -> np.ndarray:
    """num_followers = 1 + floor(s · (U^(-1/alpha) - 1)), a Lomax draw whose scale s depends on
    the playlist (see `generate`'s docstring for the relation)."""
    log_s = follower_log_scale(lengths, n_artists, collaborative, has_description, modified_at) + (
        world.taste_follow[dominant] + rng.normal(0.0, 0.4, len(lengths))
    )
    u = 1.0 - rng.random(len(lengths))
    x = np.exp(log_s) * (u ** (-1.0 / FOLLOWER_ALPHA) - 1.0)
    return 1 + np.floor(np.minimum(x, 1e6)).astype(np.int64)


def draw_edits(rng: np.random.Generator, lengths: np.ndarray) -> np.ndarray:
    """num_edits: 1 + negative binomial (shape 2) with a mean that grows with length."""
    mean = 1.2 + 0.09 * lengths**0.9
    lam = rng.gamma(2.0, mean / 2.0)
    return 1 + rng.poisson(lam)


def normalized_titles(names: list[str]) -> list[str]:
    return [normalize_name(name) for name in names]
