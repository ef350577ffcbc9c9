"""The evaluation harness on an in-memory store: rows, results, oracle, gap shares, sampling."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spotifier import store
from spotifier.data import Query
from spotifier.errors import InvalidInputError, NotFoundError
from spotifier.evaluation import (
    evaluate,
    load_oracle,
    oracle_items,
    read_result,
    recommend_cases,
    sample_cases,
    score_cases,
)
from spotifier.evaluation.testing import tiny_mpd
from spotifier.home import Home
from spotifier.models.base import Recommendations
from spotifier.split import build_split, challenge_cases, load_split

METRICS = {"r_precision", "r_precision_track", "ndcg", "clicks", "playlists"}


@pytest.fixture(scope="module")
def world():
    return tiny_mpd(500, seed=11)


class TruthOracle:
    """Ranks each stored playlist's own tracks first: a perfect oracle for this world."""

    def __init__(self, world):
        self.inter, self.catalog = world
        self.row_of = {int(p): i for i, p in enumerate(self.inter.pids)}

    @classmethod
    def load(cls, truth_dir):
        assert (truth_dir / "marker").exists()
        return cls(cls.world)

    def rank(self, pid, k, exclude):
        own = [str(self.catalog.track_uris[t]) for t in self.inter.playlist(self.row_of[pid])]
        rest = [str(u) for u in self.catalog.track_uris]
        ranked = [u for u in dict.fromkeys(own + rest) if u not in exclude]
        return ranked[:k]


@pytest.fixture
def home(tmp_path, monkeypatch, world):
    inter, catalog = world
    monkeypatch.setattr(store, "load_interactions", lambda home: inter)
    monkeypatch.setattr(store, "load_catalog", lambda home: catalog)
    monkeypatch.setattr(store, "load_playlist_ids", lambda home: inter.pids.astype(str))
    monkeypatch.setattr(store, "source_root", lambda home: None)
    return Home(tmp_path / "home")


@pytest.fixture
def with_oracle(home, tmp_path, monkeypatch, world):
    import spotifier.synth

    (tmp_path / "gen" / "truth").mkdir(parents=True)
    (tmp_path / "gen" / "truth" / "marker").write_text("")
    monkeypatch.setattr(store, "source_root", lambda home: tmp_path / "gen")
    TruthOracle.world = world
    monkeypatch.setattr(spotifier.synth, "Oracle", TruthOracle, raising=False)
    return home


class Perfect:
    """Recommends the held-out tracks first: an upper bound to check the scorer end to end."""

    def __init__(self, cases, n_tracks):
        self.truth = {id(c.query): c.truth for c in cases}
        self.n_tracks = n_tracks

    def recommend(self, queries, k=500):
        items = np.full((len(queries), k), -1, dtype=np.int32)
        for i, q in enumerate(queries):
            truth = self.truth[id(q)]
            rest = np.setdiff1d(np.arange(self.n_tracks), np.concatenate([truth, q.seeds]))
            ranked = np.concatenate([truth, rest])[:k]
            items[i, : len(ranked)] = ranked
        return Recommendations(items, np.zeros(items.shape, np.float32))


def test_perfect_recommendations_score_one(world):
    inter, catalog = world
    cases = challenge_cases(inter, 30, seed=0)
    items, seconds = recommend_cases(Perfect(cases, inter.n_tracks), cases)
    assert items.shape == (30, 500) and seconds >= 0
    rows = score_cases(cases, items, catalog.track_artist)
    assert len(rows) == 30
    for row, case in zip(rows, cases, strict=True):
        assert row["pid"] == case.pid and row["category"] == case.category
        assert row["r_precision"] == row["r_precision_track"] == 1.0
        assert row["ndcg"] == pytest.approx(1.0)
        assert row["clicks"] == 0.0


def test_oracle_items_map_uris_and_exclude_seeds(world):
    inter, catalog = world
    cases = challenge_cases(inter, 20, seed=0)
    items, _ = oracle_items(TruthOracle(world), cases, catalog)
    for case, ranked in zip(cases, items, strict=True):
        ranked = ranked[ranked >= 0]
        assert not set(ranked.tolist()) & set(case.query.seeds.tolist())
        assert set(case.truth.tolist()) <= set(ranked[: len(case.truth)].tolist())


def test_evaluate_popularity_end_to_end(home):
    report = evaluate(home, ["popularity"], oracle=True)
    assert report["split"] == "default" and report["protocol"] == "challenge"
    result = report["models"]["popularity"]
    assert set(result["overall"]) == METRICS
    assert result["overall"]["playlists"] == 50  # capped at 10% of 500
    assert list(result["per_category"]) == [str(n) for n in range(1, 11)]
    assert all(v["playlists"] == 5 for v in result["per_category"].values())
    assert result["fit_seconds"] >= 0 and result["recommend_seconds"] >= 0
    assert "sampled" not in result and "oracle" not in report["models"]
    # The model was trained on the split and saved; results saved with per-playlist rows.
    assert (home.model_dir("popularity", "default") / "meta.json").exists()
    saved = read_result(home, "default", "popularity")
    assert saved is not None and len(saved["per_playlist"]) == 50
    assert saved["overall"] == result["overall"]
    # Popularity gets some R-precision on this clustered world, but not everything.
    assert 0.0 < result["overall"]["r_precision"] < 1.0
    assert result["overall"]["r_precision"] >= result["overall"]["r_precision_track"]


def test_oracle_row_and_gap_shares(with_oracle):
    report = evaluate(with_oracle, ["popularity", "item-knn"])
    models = report["models"]
    assert list(models) == ["popularity", "item-knn", "oracle"]
    oracle = models["oracle"]["overall"]
    assert oracle["r_precision_track"] == pytest.approx(1.0)
    assert oracle["clicks"] == 0.0
    gap = models["item-knn"]["gap_share"]
    pop, knn = models["popularity"]["overall"], models["item-knn"]["overall"]
    expected = (knn["ndcg"] - pop["ndcg"]) / (oracle["ndcg"] - pop["ndcg"])
    assert gap["ndcg"] == pytest.approx(expected)
    assert 0.0 < gap["r_precision"] < 1.0  # item-knn uses seeds: better than popularity
    assert "gap_share" not in models["popularity"]


def test_saved_baselines_give_gap_shares_later(with_oracle):
    evaluate(with_oracle, ["popularity"])  # popularity and oracle saved
    later = evaluate(with_oracle, ["item-knn"], oracle=False)
    assert list(later["models"]) == ["item-knn"]
    assert set(later["models"]["item-knn"]["gap_share"]) >= {"r_precision", "ndcg", "clicks"}


def test_sampled_models_say_so(home, monkeypatch):
    from spotifier.models.popularity import Popularity

    report = evaluate(home, ["popularity"], sample=20)
    result = report["models"]["popularity"]
    assert result["sampled"] == 20 and result["overall"]["playlists"] == 20
    monkeypatch.setattr(Popularity, "max_eval_queries", 7, raising=False)
    result = evaluate(home, ["popularity"])["models"]["popularity"]
    assert result["sampled"] == 7
    # an explicit sample lifts a model's cap: every held-out playlist when it is large enough
    result = evaluate(home, ["popularity"], sample=20)["models"]["popularity"]
    assert result["sampled"] == 20
    result = evaluate(home, ["popularity"], sample=10**6)["models"]["popularity"]
    assert "sampled" not in result and result["overall"]["playlists"] > 20


def test_sample_cases_is_seeded_and_nested(world):
    cases = challenge_cases(world[0], 40, seed=0)
    small, large = sample_cases(cases, 10), sample_cases(cases, 25)
    assert [c.pid for c in small] == [c.pid for c in sample_cases(cases, 10)]
    assert {c.pid for c in small} <= {c.pid for c in large}
    assert sample_cases(cases, None) == cases


def test_hide_first_protocol_builds_its_split(home, capsys):
    report = evaluate(home, ["popularity"], protocol="hide-first")
    assert report["split"] == "hide-first" and report["protocol"] == "hide-first"
    assert "building it" in capsys.readouterr().err
    result = report["models"]["popularity"]
    assert set(result["overall"]) == METRICS | {"hit_at_100"}
    assert list(result["per_category"]) == ["hide-first"]
    assert result["overall"]["playlists"] == 50  # 10% of the 500-playlist sample
    # hit@100 is the share of test playlists whose first track is in the top 100.
    saved = read_result(home, "hide-first", "popularity")
    hits = [r["hit_at_100"] for r in saved["per_playlist"]]
    assert result["overall"]["hit_at_100"] == pytest.approx(sum(hits) / len(hits))


def test_hide_first_scores_every_test_playlist_of_a_capped_model(home, monkeypatch):
    from spotifier.models.popularity import Popularity

    monkeypatch.setattr(Popularity, "max_eval_queries", 7, raising=False)
    result = evaluate(home, ["popularity"], protocol="hide-first")["models"]["popularity"]
    assert "sampled" not in result and result["overall"]["playlists"] == 50
    sampled = evaluate(home, ["popularity"], protocol="hide-first", sample=9)
    assert sampled["models"]["popularity"]["sampled"] == 9


def test_protocol_mismatch_and_unknown_model(home):
    build_split(home, "default", n_playlists=20)
    with pytest.raises(InvalidInputError, match="uses the challenge protocol"):
        evaluate(home, ["popularity"], split="default", protocol="hide-first")
    with pytest.raises(NotFoundError, match="unknown model 'nope'"):
        evaluate(home, ["nope"])
    with pytest.raises(InvalidInputError, match="unknown protocol"):
        evaluate(home, ["popularity"], protocol="other")


def test_results_file_is_plain_json(home):
    evaluate(home, ["popularity"], sample=5)
    doc = json.loads((home.results_dir / "default" / "popularity.json").read_text())
    assert doc["model"] == "popularity" and doc["split"] == "default"
    assert {r["pid"] for r in doc["per_playlist"]} <= {c.pid for c in load_split(home).cases}


def test_load_oracle_only_with_generator_truth(home, with_oracle, monkeypatch):
    assert load_oracle(with_oracle) is not None
    monkeypatch.setattr(store, "source_root", lambda home: None)
    assert load_oracle(home) is None


def test_query_titles_follow_categories(world):
    cases = challenge_cases(world[0], 20, seed=0)
    no_title = [c for c in cases if c.category in ("4", "6")]
    assert no_title and all(c.query.name is None for c in no_title)
    assert all(isinstance(c.query, Query) for c in cases)


def test_models_of_an_older_split_build_are_retrained(home, capsys):
    from spotifier.models import persist

    build_split(home, "default", n_playlists=20, seed=0)
    evaluate(home, ["popularity"], oracle=False)
    first = persist.read_meta(home, "popularity", "default")["data_fingerprint"]
    assert first == load_split(home).meta["training_fingerprint"]
    capsys.readouterr()
    build_split(home, "default", n_playlists=20, seed=1)  # other playlists held out
    evaluate(home, ["popularity"], oracle=False)
    assert "older build of split 'default'" in capsys.readouterr().err
    again = persist.read_meta(home, "popularity", "default")["data_fingerprint"]
    assert again != first and again == load_split(home).meta["training_fingerprint"]


def test_two_stage_models_report_candidate_recall(home, monkeypatch):
    from spotifier.models.popularity import Popularity

    def candidate_recall(self, queries, truths):
        # Stage one = the 100 most popular tracks: recall is computable by hand.
        top = set(self.popularity_order[:100].tolist())
        return np.array([np.mean([t in top for t in truth]) for truth in truths])

    plain = evaluate(home, ["popularity"], oracle=False)["models"]["popularity"]
    assert "candidate_recall" not in plain
    monkeypatch.setattr(Popularity, "candidate_recall", candidate_recall, raising=False)
    result = evaluate(home, ["popularity"], oracle=False)["models"]["popularity"]
    recall = result["candidate_recall"]
    assert set(recall["per_category"]) == {str(n) for n in range(1, 11)}
    assert 0.0 < recall["overall"] <= 1.0
    # 5 playlists per category: the overall value is the mean of the category means.
    means = list(recall["per_category"].values())
    assert recall["overall"] == pytest.approx(np.mean(means), abs=1e-3)
