"""Shared fixtures: tiny worlds whose right answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from spotifier.data import Interactions, TrainingData


def make_tiny_world() -> TrainingData:
    """Two clear clusters of tracks (0-9 and 10-19) plus a very popular track 20.

    Playlists titled 'rock' draw from cluster A, 'chill' from cluster B; every playlist also has
    track 20. A query seeded with cluster-A tracks should be continued with cluster-A tracks.
    """
    rng = np.random.default_rng(7)
    playlists, titles = [], []
    for i in range(60):
        cluster = np.arange(0, 10) if i % 2 == 0 else np.arange(10, 20)
        size = int(rng.integers(5, 9))
        tracks = [*rng.choice(cluster, size=size, replace=False).tolist(), 20]
        playlists.append(tracks)
        titles.append("rock" if i % 2 == 0 else "chill")
    inter = Interactions.from_lists(playlists, n_tracks=22, titles=titles)  # track 21 unseen
    artists = np.array([t // 5 for t in range(22)], dtype=np.int32)
    albums = np.array([t // 3 for t in range(22)], dtype=np.int32)
    return TrainingData(inter, artists, albums)


@pytest.fixture
def tiny_world() -> TrainingData:
    return make_tiny_world()
