"""The ten categories of the real challenge set, and how to tell an entry's category.

Lengths suited to each category follow what teams that rebuilt local challenge sets used
(MPD.md): short playlists for title-only and one-seed cases, 40–100 tracks for 5 and 10 seeds,
101–250 for 25 seeds, 150–250 for 100 seeds.

    >>> [c.number for c in CATEGORIES if not c.has_title]
    [4, 6]
    >>> category_of(25, True, list(range(25))), category_of(25, True, [0, 3, 7])
    (7, 8)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spotifier.errors import InvalidInputError


@dataclass(frozen=True)
class Category:
    number: int
    label: str
    n_seeds: int
    has_title: bool
    random_positions: bool
    min_length: int
    max_length: int


CATEGORIES: tuple[Category, ...] = (
    Category(1, "title only", 0, True, False, 10, 50),
    Category(2, "title + first 1", 1, True, False, 10, 50),
    Category(3, "title + first 5", 5, True, False, 40, 100),
    Category(4, "first 5, no title", 5, False, False, 40, 100),
    Category(5, "title + first 10", 10, True, False, 40, 100),
    Category(6, "first 10, no title", 10, False, False, 40, 100),
    Category(7, "title + first 25", 25, True, False, 101, 250),
    Category(8, "title + 25 random", 25, True, True, 101, 250),
    Category(9, "title + first 100", 100, True, False, 150, 250),
    Category(10, "title + 100 random", 100, True, True, 150, 250),
)
BY_NUMBER = {c.number: c for c in CATEGORIES}

#: The category name used for every case of the hide-first protocol.
HIDE_FIRST = "hide-first"


def category_of(num_samples: int, has_title: bool, positions: Sequence[int]) -> int:
    """The challenge category of an entry from its seeds count, title and seed positions."""
    is_prefix = list(positions) == list(range(len(positions)))
    for c in CATEGORIES:
        if (
            c.n_seeds == num_samples
            and c.has_title == has_title
            and (c.random_positions != is_prefix or num_samples == 0)
        ):
            return c.number
    raise InvalidInputError(
        f"no challenge category has {num_samples} seeds "
        f"{'with' if has_title else 'without'} a title"
        f"{'' if is_prefix else ' at random positions'}"
    )
