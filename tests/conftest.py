"""Shared fixtures: tiny worlds whose right answers are known, and the command line in a
subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

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


#: A hybrid small enough to fit in seconds, with a cascade that bites: 10 trees for every
#: candidate, the other 30 for each query's best 20.
SMALL_HYBRID = (
    "generators=item-knn,title,popularity",
    "candidates=40",
    "val_playlists=150",
    "n_estimators=40",
    "negatives=20",
    "cascade_trees=10",
    "cascade_keep=20",
)


@pytest.fixture(scope="session")
def small_hybrid() -> list[str]:
    """`SMALL_HYBRID`'s settings, as `--set` / `create` take them."""
    return list(SMALL_HYBRID)


@pytest.fixture(scope="session")
def hybrid_home(tmp_path_factory: pytest.TempPathFactory, small_hybrid: list[str]):
    """A home with a small saved hybrid (and its title fallback), built by the real pipeline;
    shared read-only by the tests that load or serve it."""
    pytest.importorskip("lightgbm")
    from spotifier.models import persist
    from spotifier.serve.testing import build_home

    home = build_home(tmp_path_factory.mktemp("hybrid-home"), playlists=400, models=("title",))
    persist.train(home, "hybrid", overrides=small_hybrid)
    return home


def run_spotifier(
    home: Path | str, *args: str, timeout: float = 300, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    """`python -m spotifier --quiet --home HOME ARGS` in a subprocess, as a user runs it (this
    checkout's code: PYTHONPATH is inherited); the test fails, showing stderr, unless it exits with
    `expect`. Tracebacks are on (`SPOTIFIER_DEBUG=1`) when success is expected, so that a failure
    shows where; off otherwise, so that the error is the one line a user sees."""
    debug = {"SPOTIFIER_DEBUG": "1"} if expect == 0 else {}
    env = {k: v for k, v in os.environ.items() if k != "SPOTIFIER_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-m", "spotifier", "--quiet", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**env, **debug},
    )
    assert done.returncode == expect, done.stderr
    return done


@pytest.fixture(scope="session")
def spotifier_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`run_spotifier`: the command line in a subprocess."""
    return run_spotifier
