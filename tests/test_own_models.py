"""Every registered model trains and answers on a store of own playlists that has no titles,
artists, albums or durations (ids only), and on one with names but no titles or albums."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))
sys.path.insert(0, str(Path(__file__).parent))
from own_fixtures import NAMES_ONLY_DROP, generated_home, own_store

from spotifier import store
from spotifier.data import Query, TrainingData
from spotifier.models import create, model_names
from test_contract import FAST_OVERRIDES

pytestmark = pytest.mark.slow
K = 50


@pytest.fixture(scope="module")
def homes(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("own-models")
    mpd = generated_home(root, n_playlists=300, seed=5)
    return {
        "bare": own_store(mpd, root / "bare"),
        "names": own_store(mpd, root / "names", NAMES_ONLY_DROP, derived_ids=True),
    }


def _data(home: Path) -> TrainingData:
    return TrainingData.from_catalog(store.load_interactions(home), store.load_catalog(home))


def _queries(data: TrainingData) -> list[Query]:
    first = data.interactions.playlist(0)
    return [Query(seeds=first[:5]), Query(seeds=first[:1], name="road trip"), Query()]


@pytest.mark.parametrize("kind", ["bare", "names"])
@pytest.mark.parametrize("name", model_names())
def test_every_model_trains_without_optional_fields(homes, kind: str, name: str) -> None:
    data = _data(homes[kind])
    assert not data.has("title") and not data.has("album")
    assert data.has("artist") == (kind == "names")
    model = create(name, FAST_OVERRIDES.get(name, [])).fit(data)
    queries = _queries(data)
    recs = model.recommend(queries, K)
    assert recs.items.shape == (len(queries), K)
    for query, row in zip(queries, recs.items, strict=True):
        chosen = row[row >= 0]
        assert len(chosen) == K and len(set(chosen.tolist())) == K
        assert not set(chosen.tolist()) & set(query.seeds.tolist())


def test_the_fallback_chain_answers_title_only_queries_without_titles(homes) -> None:
    from spotifier.home import Home
    from spotifier.models import persist

    home = Home.resolve(homes["bare"])
    chain = persist.load_chain(home, "item-knn", None)
    recs = chain.recommend([Query(name="road trip"), Query()], K)
    assert (recs.items >= 0).all()
    assert np.array_equal(recs.items[0], recs.items[1])  # no titles: both are popularity
