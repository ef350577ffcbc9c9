"""Held-out splits: the challenge's ten categories and the seed's hide-first protocol.

`sample_challenge` cuts challenge-category cases from any playlists; `build_split` writes a split
folder from the store; `load_split` and `load_training_interactions` read it back.
"""

from spotifier.split.categories import BY_NUMBER, CATEGORIES, HIDE_FIRST, Category, category_of
from spotifier.split.sampling import Case, cut_case, hide_first_case, sample_challenge
from spotifier.split.storage import (
    DEFAULT_SPLIT,
    HIDE_FIRST_SPLIT,
    PROTOCOLS,
    Split,
    build_split,
    challenge_cases,
    hide_first_plan,
    load_split,
    load_training_interactions,
    read_meta,
    training_interactions,
    write_split,
)

__all__ = [
    "BY_NUMBER",
    "CATEGORIES",
    "DEFAULT_SPLIT",
    "HIDE_FIRST",
    "HIDE_FIRST_SPLIT",
    "PROTOCOLS",
    "Case",
    "Category",
    "Split",
    "build_split",
    "category_of",
    "challenge_cases",
    "cut_case",
    "hide_first_case",
    "hide_first_plan",
    "load_split",
    "load_training_interactions",
    "read_meta",
    "sample_challenge",
    "training_interactions",
    "write_split",
]
