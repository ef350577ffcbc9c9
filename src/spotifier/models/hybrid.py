"""`hybrid`: two stages, as the 2018 winners built it.

Stage one asks several generators (als, item-knn, playlist-knn, rp3beta, title, popularity) for
their top `candidates` each and takes the union, for recall. Stage two re-ranks the union with a
LightGBM lambdarank model over per-generator scores and ranks, popularity and seed-overlap
features (`hybrid_features`).

The ranker learns from validation cases cut from the TRAINING playlists in the challenge's ten
categories (`spotifier.split.sample_challenge`), never from a held-out split: those playlists are
cut down to their seeds before the generators are fitted, so the generators' scores for them look
exactly like scores for an unseen query. The generators fitted that way are the ones used at query
time (`refit=True` refits them on all the data afterwards: slower, slightly more data). Sub-models
are saved in sub-folders, the ranker in LightGBM's text format (no pickle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.models import hybrid_features as hf
from spotifier.models.base import ModelConfig, Recommender, Scores
from spotifier.models.validation import validation_cases
from spotifier.progress import cpu_count, note, track


@dataclass(frozen=True)
class HybridConfig(ModelConfig):
    """generators: stage-one models (registry names, default configs). candidates: top-N taken
    from each. val_playlists: training playlists cut into the ranker's cases. The rest: LightGBM
    lambdarank (negatives: non-relevant candidates kept per training case)."""

    generators: tuple[str, ...] = (
        "als",
        "item-knn",
        "playlist-knn",
        "rp3beta",
        "title",
        "popularity",
    )
    candidates: int = 300
    val_playlists: int = 1500
    negatives: int = 150
    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 20
    refit: bool = False


class Hybrid(Recommender):
    """Blended candidates re-ranked by a learning-to-rank GBM."""

    name = "hybrid"
    config_class = HybridConfig
    handles_titles: ClassVar[bool] = True
    batch_size: ClassVar[int] = 256
    config: HybridConfig

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__(config)
        self.generators: list[Recommender] = []
        self.ranker: Any = None
        self.side: hf.Side | None = None
        self.report: dict[str, float] = {}

    # ------------------------------------------------------------------ fitting
    def _fit(self, data: TrainingData) -> None:
        cfg = self.config
        stage_one, cases = validation_cases(data, cfg.val_playlists, cfg.seed)
        self.side = hf.Side.build(data.track_artist, data.track_album, self.popularity_counts)
        self.generators = self._fit_generators(stage_one)
        self._train_ranker(cases)
        if cfg.refit:
            self.generators = self._fit_generators(data)

    def _fit_generators(self, data: TrainingData) -> list[Recommender]:
        from spotifier.models.registry import create

        models = []
        for name in track(self.config.generators, "hybrid: fitting generators"):
            models.append(create(name, [f"seed={self.config.seed}"]).fit(data))
        return models

    def _train_ranker(self, cases: list[Any]) -> None:
        import lightgbm

        cfg = self.config
        rng = np.random.default_rng(cfg.seed + 1)
        xs: list[np.ndarray] = []
        ys: list[np.ndarray] = []
        groups: list[int] = []
        recall: dict[str, list[float]] = {}
        for start in track(range(0, len(cases), 256), "hybrid: ranker features"):
            chunk = cases[start : start + 256]
            lists = hf.generate(self.generators, [c.query for c in chunk], cfg.candidates)
            for j, case in enumerate(chunk):
                cands, x = hf.features(lists, j, case.query, self.side)  # type: ignore[arg-type]
                label = np.isin(cands, case.truth)
                recall.setdefault(case.category, []).append(label.sum() / len(case.truth))
                if not label.any():
                    continue  # nothing to learn to order
                neg = np.flatnonzero(~label)
                keep = np.concatenate(
                    [np.flatnonzero(label), rng.permutation(neg)[: cfg.negatives]]
                )
                xs.append(x[keep])
                ys.append(label[keep].astype(np.float32))
                groups.append(len(keep))
        self.report = {f"candidate_recall_{c}": float(np.mean(v)) for c, v in recall.items()}
        if recall:
            self.report["candidate_recall"] = float(np.mean([np.mean(v) for v in recall.values()]))
        if len(groups) < 2:
            self.ranker = None  # too little to learn from: reciprocal-rank fusion instead
            return
        params = {
            "objective": "lambdarank",
            "learning_rate": cfg.learning_rate,
            "num_leaves": cfg.num_leaves,
            "min_data_in_leaf": cfg.min_data_in_leaf,
            "seed": cfg.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": cpu_count(),
            "verbose": -1,
        }
        train = lightgbm.Dataset(
            np.concatenate(xs),
            np.concatenate(ys),
            group=groups,
            feature_name=[_safe(n) for n in hf.feature_names(cfg.generators)],
        )
        self.ranker = lightgbm.train(params, train, num_boost_round=cfg.n_estimators)
        note(
            f"hybrid: ranker trained on {len(groups)} validation cases; candidate recall "
            + ", ".join(f"{c}: {v:.2f}" for c, v in sorted(self.report.items()))
        )

    # ------------------------------------------------------------------ scoring
    def _score(self, queries: Sequence[Query]) -> Scores:
        cfg = self.config
        lists = hf.generate(self.generators, queries, cfg.candidates)
        rows, cols, vals = [], [], []
        for j, query in enumerate(queries):
            cands, x = hf.features(lists, j, query, self.side)  # type: ignore[arg-type]
            if len(cands) == 0:
                continue
            if self.ranker is not None:
                score = self.ranker.predict(x, num_threads=1).astype(np.float32)
            else:
                score = hf.rank_fusion(x, len(self.generators), cfg.candidates)
            rows.append(np.full(len(cands), j))
            cols.append(cands)
            vals.append(score)
        if not rows:
            return sp.csr_matrix((len(queries), self.n_tracks), dtype=np.float32)
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(len(queries), self.n_tracks),
        )

    def candidate_recall(
        self, queries: Sequence[Query], truths: Sequence[np.ndarray]
    ) -> np.ndarray:
        """Stage one's recall per query: the share of `truths[i]` among query i's candidates."""
        out = np.zeros(len(queries))
        for start in range(0, len(queries), self.batch_size):
            batch = queries[start : start + self.batch_size]
            lists = hf.generate(self.generators, batch, self.config.candidates)
            for j, query in enumerate(batch):
                cands, _ = hf.features(lists, j, query, self.side)  # type: ignore[arg-type]
                truth = truths[start + j]
                out[start + j] = np.isin(truth, cands).mean() if len(truth) else np.nan
        return out

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, Any]:
        assert self.side is not None
        keys = sorted(self.report)
        return {
            "track_artist": self.side.track_artist,
            "track_album": self.side.track_album,
            "report_keys": np.array(keys, dtype=str),
            "report_values": np.array([self.report[k] for k in keys], dtype=np.float64),
        }

    def _set_state(self, arrays: dict[str, Any]) -> None:
        self.side = hf.Side.build(
            arrays["track_artist"], arrays["track_album"], self.popularity_counts
        )
        self.report = {
            str(k): float(v)
            for k, v in zip(arrays["report_keys"], arrays["report_values"], strict=True)
        }

    def _save_extra(self, path: Path) -> None:
        for name, model in zip(self.config.generators, self.generators, strict=True):
            sub = path / "generators" / name
            sub.mkdir(parents=True)
            model.save(sub)
        if self.ranker is not None:
            self.ranker.save_model(str(path / "ranker.txt"))

    def _load_extra(self, path: Path) -> None:
        self.generators = [
            Recommender.load(path / "generators" / name) for name in self.config.generators
        ]
        ranker_file = path / "ranker.txt"
        if ranker_file.exists():
            import lightgbm

            self.ranker = lightgbm.Booster(model_file=str(ranker_file))

    def explain(self, query: Query, items: np.ndarray) -> list[str | None]:
        lists = hf.generate(self.generators, [query], self.config.candidates)
        out: list[str | None] = []
        for item in items.tolist():
            by = [
                f"{name} #{int(np.flatnonzero(lists.items[g, 0] == item)[0]) + 1}"
                for g, name in enumerate(self.config.generators)
                if (lists.items[g, 0] == item).any()
            ]
            out.append("proposed by " + ", ".join(by) if by else None)
        return out


def _safe(name: str) -> str:
    return name.replace("-", "_").replace(":", "__")
