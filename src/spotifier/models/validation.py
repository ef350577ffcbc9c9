"""Validation cases cut from TRAINING playlists, for models and sweeps that learn or tune on them.

`validation_cases(data, n, seed)` picks `n` training playlists, cuts challenge-category cases from
them with `spotifier.split.sample_challenge`, and returns the training data with those playlists
cut down to their seeds: fit on it, then score the cases as unseen queries. `hide_first=m` cuts m
more playlists in the seed protocol's shape (first track hidden). A held-out split is never
touched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from spotifier.data import Interactions, TrainingData


def validation_cases(
    data: TrainingData,
    n: int,
    seed: int,
    hide_first: int = 0,
    max_share: float = 0.2,
    exclude: np.ndarray | None = None,
) -> tuple[TrainingData, list[Any]]:
    """(training data without the cases' hidden tracks, cases); at most `max_share` of the rows.

    `n` playlists are cut into the challenge's ten categories; `hide_first` more (within the same
    `max_share` budget) into the seed protocol's shape: every track but the first visible, with the
    title. Rows in `exclude` are never picked (the budget shrinks to the rows left).
    """
    from spotifier.split import sample_challenge
    from spotifier.split.sampling import hide_first_case

    inter = data.interactions
    pool: np.ndarray | int = inter.n_playlists
    budget = int(inter.n_playlists * max_share + 1e-9)
    if exclude is not None and len(exclude):
        pool = np.setdiff1d(np.arange(inter.n_playlists), exclude)
        budget = min(budget, len(pool))
    hide_first = max(0, hide_first)
    if n + hide_first > budget:  # shrink both, keeping their proportion
        hide_first = hide_first * budget // (n + hide_first)
        n = budget - hide_first
    if n < 10:
        return data, []
    rng = np.random.default_rng(seed)
    picked = rng.choice(pool, size=n + hide_first, replace=False)
    rows = np.sort(picked[:n])
    cases = sample_challenge(inter, rows, seed=seed)
    for row in np.sort(picked[n:]).tolist():
        case = hide_first_case(inter, int(row))
        if case is not None:
            cases.append(case)
    cut = cut_to_seeds(inter, cases)
    return TrainingData(cut, data.track_artist, data.track_album, data.fields), cases


def validation_cuts(
    data: TrainingData,
    n: int,
    seed: int,
    hide_first: int = 0,
    max_share: float = 0.2,
    folds: int = 1,
) -> Iterator[tuple[TrainingData, list[Any]]]:
    """`folds` cuts as `validation_cases` makes them, each over playlists no earlier cut used,
    yielded one at a time (fit on one cut's data, build its features, then drop it). The first
    is exactly `validation_cases(data, n, seed, hide_first, max_share)`; cut i draws with seed
    + i. Stops early when too few unused playlists are left for another cut.

    >>> lists = [[(i + j) % 50 for j in range(30)] for i in range(100)]
    >>> data = TrainingData(Interactions.from_lists(lists, 50), np.zeros(50), np.zeros(50))
    >>> rows = [{c.row for c in cases} for _, cases in validation_cuts(data, 10, 0, folds=3)]
    >>> len(rows), len(set.union(*rows)) == sum(map(len, rows))
    (3, True)
    """
    used = np.array([], dtype=np.int64)
    for fold in range(max(1, folds)):
        stage, cases = validation_cases(
            data, n, seed + fold, hide_first, max_share, exclude=used if fold else None
        )
        if not cases:
            return
        yield stage, cases
        used = np.union1d(used, [c.row for c in cases])


def cut_to_seeds(inter: Interactions, cases: Sequence[Any]) -> Interactions:
    """The training playlists with each case's playlist cut down to its seeds (title blanked
    where the case has none); playlists left with no seeds are dropped."""
    if not cases:
        return inter
    keep = np.ones(inter.n_entries, dtype=bool)
    titles = inter.titles.copy()
    for case in cases:
        start, end = inter.indptr[case.row], inter.indptr[case.row + 1]
        keep[start:end] = False
        keep[start + case.positions.astype(np.int64)] = True
        if not case.query.name:
            titles[case.row] = ""
    row_of = np.repeat(np.arange(inter.n_playlists), inter.lengths())
    counts = np.bincount(row_of[keep], minlength=inter.n_playlists)
    alive = counts > 0
    indptr = np.zeros(int(alive.sum()) + 1, dtype=np.int64)
    np.cumsum(counts[alive], out=indptr[1:])
    return Interactions(
        indptr=indptr,
        tracks=inter.tracks[keep],
        n_tracks=inter.n_tracks,
        titles=titles[alive],
        pids=inter.pids[alive],
    )
