"""Cut evaluation cases (a partial playlist + its held-out tracks) from whole playlists.

`sample_challenge` is the reusable core: the split uses it on held-out playlists, and the hybrid
model uses it to cut validation cases from training playlists. It works on `Interactions` rows
and track indices only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spotifier.data import Interactions, Query
from spotifier.errors import InvalidInputError
from spotifier.split.categories import CATEGORIES, HIDE_FIRST, Category

# The most demanding categories pick first, so that long playlists go where they are needed.
_PICK_ORDER: tuple[int, ...] = (9, 10, 7, 8, 3, 4, 5, 6, 1, 2)


@dataclass(frozen=True, eq=False)
class Case:
    """One evaluation case: the partial playlist a model sees and the tracks it must find.

    `truth` holds the unique held-out track indices that are not also seeds (a seed is never
    recommended, so a repeat of one cannot be found), in order of first appearance.
    """

    category: str
    query: Query
    truth: np.ndarray
    row: int
    pid: int

    @property
    def positions(self) -> np.ndarray:
        if self.query.positions is not None:
            return self.query.positions
        return np.arange(len(self.query.seeds), dtype=np.int32)


def cut_case(
    interactions: Interactions,
    row: int,
    category: Category,
    rng: np.random.Generator,
) -> Case | None:
    """The case of `category` for playlist `row`, or None if nothing would be left to find."""
    tracks = interactions.playlist(row)
    length = len(tracks)
    if length <= category.n_seeds:
        return None
    if category.random_positions:
        positions = np.sort(rng.choice(length, size=category.n_seeds, replace=False))
    else:
        positions = np.arange(category.n_seeds)
    positions = positions.astype(np.int32)
    seeds = tracks[positions]
    hidden = np.ones(length, dtype=bool)
    hidden[positions] = False
    truth = _unique_in_order(tracks[hidden])
    truth = truth[~np.isin(truth, seeds)]
    if len(truth) == 0:
        return None
    title = str(interactions.titles[row]) if category.has_title else ""
    query = Query(
        seeds=seeds,
        name=title or None,
        positions=positions,
        num_tracks=length,
    )
    return Case(str(category.number), query, truth, int(row), int(interactions.pids[row]))


def sample_challenge(
    interactions: Interactions,
    rows: Sequence[int] | np.ndarray,
    seed: int,
    per_category: int | None = None,
    strict: bool = False,
    categories: Sequence[Category] = CATEGORIES,
    titled_only: bool = False,
) -> list[Case]:
    """Challenge-category cases cut from the playlists at `rows`, equal counts per category.

    Each category takes playlists whose length suits it; when too few remain, it takes the
    nearest lengths that still leave something to find. `per_category` defaults to
    len(rows) // 10. With `strict`, a category that cannot be filled is an error; otherwise it
    is filled as far as possible. Only `categories` are cut (all ten by default); with
    `titled_only`, a category with a title takes only playlists that have one (data where some
    playlists have no title). Cases come back ordered by category, then by row.

    >>> inter = Interactions.from_lists([list(range(i, i + 20 * i)) for i in range(1, 21)], 500)
    >>> cases = sample_challenge(inter, range(20), seed=0)
    >>> [c.category for c in cases][:4], len(cases[0].query.seeds), len(cases[-1].query.seeds)
    (['1', '1', '2', '2'], 0, 100)
    """
    rows = np.asarray(rows, dtype=np.int64)
    if per_category is None:
        per_category = len(rows) // len(CATEGORIES)
    rng = np.random.default_rng(seed)
    order = rows[rng.permutation(len(rows))]
    lengths = interactions.lengths()[order]
    taken = np.zeros(len(order), dtype=bool)
    titled = (
        np.array([bool(t) for t in interactions.titles[order].tolist()], dtype=bool)
        if titled_only
        else np.ones(len(order), dtype=bool)
    )
    wanted = {c.number for c in categories}
    by_category: dict[int, list[Case]] = {}
    for number in (n for n in _PICK_ORDER if n in wanted):
        category = next(c for c in CATEGORIES if c.number == number)
        fits = (lengths >= category.min_length) & (lengths <= category.max_length)
        below = np.maximum(category.min_length - lengths, 0)
        above = np.maximum(lengths - category.max_length, 0)
        # Suited lengths first (in shuffled order), then the nearest lengths.
        distance = np.where(fits, 0, below + above)
        usable = ~taken & (lengths > category.n_seeds)
        if category.has_title:
            usable &= titled
        candidates = np.flatnonzero(usable)
        candidates = candidates[np.argsort(distance[candidates], kind="stable")]
        cases: list[Case] = []
        for i in candidates:
            if len(cases) == per_category:
                break
            case = cut_case(interactions, int(order[i]), category, rng)
            if case is not None:
                cases.append(case)
                taken[i] = True
        if strict and len(cases) < per_category:
            needs = f"more than {category.n_seeds} tracks"
            if titled_only and category.has_title:
                needs += " and a title"
            raise InvalidInputError(
                f"only {len(cases)} playlists can hold out category {number} "
                f"({category.label}, needs {needs}) "
                f"of the {per_category} asked for; ask for fewer held-out playlists"
            )
        by_category[number] = sorted(cases, key=lambda c: c.row)
    return [case for c in CATEGORIES if c.number in wanted for case in by_category[c.number]]


def hide_first_case(interactions: Interactions, row: int) -> Case | None:
    """The seed's protocol: the first track hidden, the rest (with the title) visible.

    None when the first track recurs later in the playlist (it would be a seed, so a model
    could never find it).
    """
    tracks = interactions.playlist(row)
    if len(tracks) < 2 or tracks[0] in tracks[1:]:
        return None
    positions = np.arange(1, len(tracks), dtype=np.int32)
    title = str(interactions.titles[row])
    query = Query(seeds=tracks[1:], name=title or None, positions=positions, num_tracks=len(tracks))
    return Case(
        HIDE_FIRST, query, tracks[:1].astype(np.int32), int(row), int(interactions.pids[row])
    )


def _unique_in_order(values: np.ndarray) -> np.ndarray:
    _, first = np.unique(values, return_index=True)
    return values[np.sort(first)].astype(np.int32)
