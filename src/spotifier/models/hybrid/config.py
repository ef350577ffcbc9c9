"""The hybrid's settings, one documented field each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from spotifier.models.base import ModelConfig
from spotifier.models.config import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Range,
    ShareFloat,
    UnitFloat,
)

#: LightGBM wants at least two leaves per tree.
Leaves = Annotated[int, Range(2)]
#: A share of the features that leaves at least one.
FeatureShare = Annotated[float, Range(0, 1, low_open=True)]


@dataclass(frozen=True)
class HybridConfig(ModelConfig):
    """Settings of `hybrid`: stage one (generators and their candidates), the ranker's training
    cases, LightGBM lambdarank, the query-time cascade and the artist co-occurrence features.

    The defaults were chosen in five rounds on validation cases cut from the default world's
    training playlists and confirmed once on its held-out split; the tables are in
    `docs/hybrid.md`, the benchmark runs in `bench/RESULTS.md`.
    """

    generators: tuple[str, ...] = (
        "als",
        "item-knn",
        "playlist-knn",
        "rp3beta",
        "title",
        "popularity",
        "ease",
    )
    """Stage-one models (registry names, each with its default config). `ease` as a seventh
    raised held-back R-precision 0.0873 -> 0.0890. `title` also answers zero-seed queries
    alone (no ranker beat it there); it is left out when the data has no titles."""
    candidates: PositiveInt = 400
    """Top-N taken from each generator (300 -> 400 with album_candidates 100 -> 200: R-prec
    0.1118 -> 0.1123)."""
    album_candidates: NonNegativeInt = 200
    """Tracks of the seeds' albums added to the candidates, most played first (none when the
    data has no albums)."""
    val_playlists: NonNegativeInt = 3000
    """Training playlists cut into the ranker's challenge-category cases, per validation cut."""
    negatives: NonNegativeInt = 150
    """Non-relevant candidates kept per training case (300 did worse on held-back cases; 100
    no better)."""
    n_estimators: PositiveInt = 300
    """LightGBM boosting rounds (200 and 500 both did worse on held-back cases)."""
    learning_rate: PositiveFloat = 0.03
    """LightGBM learning rate (0.05 and 0.02 both did worse on held-back cases)."""
    num_leaves: Leaves = 31
    """LightGBM leaves per tree (63 did no better)."""
    min_data_in_leaf: NonNegativeInt = 20
    """LightGBM's minimum rows per leaf (50 did no better)."""
    feature_fraction: FeatureShare = 1.0
    """Share of the features each tree may use."""
    truncation: PositiveInt = 30
    """lambdarank_truncation_level: how deep in a list lambdarank looks (100 did worse on the
    hide-first cases)."""
    hide_first_share: NonNegativeFloat = 0.5
    """Cases in the seed protocol's shape (first track hidden) cut besides, as a share of
    val_playlists."""
    val_share: ShareFloat = 0.25
    """Largest share of the training playlists cut into validation cases."""
    artist_gain: UnitFloat = 0.0
    """Label gain of a non-held-out track by a held-out track's artist (R-precision's artist
    credit) in the lambdarank labels; 0 = binary labels (0.25 did worse)."""
    refit: bool = True
    """Refit the generators on all the data once the ranker is trained (R-prec 0.1072 ->
    0.1118 with 100 album mates); without it the last cut's generators answer."""
    cascade_trees: NonNegativeInt = 50
    """At query time every candidate gets the first cascade_trees trees, each query's best
    cascade_keep the rest; 0 = every tree for every candidate. 50:600 left the metrics
    unchanged and cut recommending 2,000 playlists from 31.8 to 24.4 s."""
    cascade_keep: PositiveInt = 600
    """Candidates per query that get every tree (see cascade_trees)."""
    folds: NonNegativeInt = 0
    """Validation cuts (disjoint playlists, one stage-one fit of the generators each) whose
    cases train the ranker together; 0 = auto_folds with a refit, 1 without (no refit means
    the generators are fitted once: every further cut is one more fit of every generator)."""
    auto_folds: PositiveInt = 3
    """The cuts `folds=0` means with a refit: three beat one on each held-back cut (R-prec
    +0.0003 to +0.0015), at one more stage-one fit each."""
    artist_neighbours: NonNegativeInt = 100
    """Top artists kept per artist in the artist co-occurrence features (0 = none; 50 and 200
    did no better, 100 is at most 240 MB at 1M playlists). None when the data has no artists."""
    artist_playlists: NonNegativeInt = 250_000
    """Artist co-occurrence is counted on at most that many playlists, a seeded sample (all of
    1M took 307 s); 0 = all of them."""

    def check(self) -> None:
        from spotifier.models import registry

        known = set(registry.model_names()) | set(registry.unavailable())
        wrong = [g for g in self.generators if g not in known or g == "hybrid"]
        if wrong or len(set(self.generators)) != len(self.generators):
            raise self.reject("generators", "distinct registered models other than hybrid")
