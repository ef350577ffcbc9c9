"""`hybrid`: two stages, as the 2018 winners built it.

Stage one (`candidates.CandidateGenerator`) asks several generators (als, item-knn,
playlist-knn, rp3beta, title, popularity, ease) for their top `candidates` each and takes the
union, for recall (plus up to `album_candidates` tracks from the seeds' albums). Stage two
(`ranker.Reranker`) re-ranks the union with a LightGBM lambdarank model over the features the
collector builds (`features.collect`: every generator's score for every candidate, ranks,
popularity, similarity to the (last) seeds, order, artist/album overlap and co-occurrence, from
the side facts in `side`); at query time the ranker's first `cascade_trees` trees score every
candidate and only each query's best `cascade_keep` get the rest. Zero-seed queries go to a
`title` model fitted on all the data, unranked: on title-only playlists no ranker beat it.

The ranker learns from validation cases cut from the TRAINING playlists in the challenge's ten
categories (`spotifier.split.sample_challenge`), never from a held-out split: those playlists are
cut down to their seeds before the generators are fitted, so the generators' scores for them look
exactly like scores for an unseen query; `ranker.NegativeSampler` picks the rows it learns from.
Cross-fitting: with `folds` K the ranker learns from K such cuts over disjoint playlists, each
scored by generators fitted on its own cut-down data (`validation_cuts`). `refit=True` then
refits the generators on all the data for query time; without a refit the last cut's generators
are kept. Data without titles, artists or albums (own playlists) leaves out the title generator,
the artist co-occurrence and the album facts. Sub-models are saved in sub-folders, the ranker in
LightGBM's text format (no pickle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.errors import InvalidInputError
from spotifier.models.base import ModelConfig, Recommender, Scores
from spotifier.models.hybrid.candidates import CandidateGenerator, pool
from spotifier.models.hybrid.config import HybridConfig
from spotifier.models.hybrid.features import Columns, collect, rank_fusion
from spotifier.models.hybrid.ranker import NegativeSampler, Reranker
from spotifier.models.hybrid.side import Side, group_similarity, transitions
from spotifier.models.item_knn import ItemKNN
from spotifier.models.validation import validation_cuts
from spotifier.progress import note, track

#: The ranker's training rows as they accumulate over the cuts: feature blocks, label blocks,
#: group sizes (one per case), and candidate recall per category.
_RankerRows = tuple[list[np.ndarray], list[np.ndarray], list[int], dict[str, list[float]]]


class Hybrid(Recommender):
    """Blended candidates re-ranked by a learning-to-rank GBM."""

    name = "hybrid"
    config_class = HybridConfig
    handles_titles: ClassVar[bool] = True
    #: Read only at query time: a served hybrid may answer with fewer candidates or a lighter
    #: cascade than it was trained with (docs/hybrid.md measures what that costs).
    query_settings: ClassVar[frozenset[str]] = frozenset(
        {"candidates", "album_candidates", "cascade_trees", "cascade_keep"}
    )
    config: HybridConfig

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__(config)
        self.stage_one = CandidateGenerator((), [])
        self.reranker: Reranker | None = None
        self.side: Side | None = None
        self.transitions: sp.csr_matrix | None = None
        self.artist_similarity: sp.csr_matrix | None = None
        self.title_model: Recommender | None = None
        # The data's track -> artist / album maps (-1: unknown), kept for the side facts.
        self.track_artist = np.zeros(0, dtype=np.int32)
        self.track_album = np.zeros(0, dtype=np.int32)

    def _query_settings_changed(self) -> None:
        cfg = self.config
        if self.side is not None:
            self.side = replace(self.side, album_candidates=cfg.album_candidates)
        if self.reranker is not None:
            booster = self.reranker.booster
            if cfg.cascade_trees != self.reranker.cascade_trees:  # other spans to compile
                from spotifier.models.ranker_native import NativeRanker, native_ranker

                raw = booster
                if isinstance(booster, NativeRanker):
                    booster.cancel()  # its spans are no longer asked for
                    raw = booster.booster
                booster = native_ranker(raw, [cfg.cascade_trees])
            self.reranker = Reranker(booster, cfg.cascade_trees, cfg.cascade_keep)

    @property
    def generators(self) -> list[Recommender]:
        return self.stage_one.models

    @property
    def generator_names(self) -> tuple[str, ...]:
        return self.stage_one.names

    # ------------------------------------------------------------------ fitting
    def _fit(self, data: TrainingData) -> None:
        cfg = self.config
        self.track_artist, self.track_album = data.track_artist, data.track_album
        # Without titles the title generator has nothing to say: left out of both stages.
        names = tuple(g for g in cfg.generators if g != "title" or data.has("title"))
        n_shaped = round(cfg.val_playlists * cfg.hide_first_share)
        cuts = validation_cuts(
            data, cfg.val_playlists, cfg.seed, n_shaped, cfg.val_share, self.folds
        )
        sampler = NegativeSampler(cfg.negatives, cfg.seed + 1)
        rows: _RankerRows = ([], [], [], {})
        self.report = {}
        n_cuts = 0
        for fold, (stage_one, cases) in enumerate(cuts):
            # Each cut's cases are scored by generators fitted on that cut's own stage-one data.
            self._fit_stage(stage_one, names)
            before = len(rows[2])
            self._ranker_rows(cases, sampler, rows)
            self.report[f"ranker_cases_cut{fold}"] = float(len(rows[2]) - before)
            n_cuts += 1
        if not n_cuts:  # too few playlists for a single cut: no ranker
            self._fit_stage(data, names)
        self._train_ranker(rows)
        if cfg.refit and n_cuts:
            self._fit_stage(data, names)
        elif n_cuts:  # the last cut's generators answer, with every play counted (as loaded)
            self.side = self._side(data.track_artist, data.track_album, self.popularity_counts)
        if "title" in names:
            # Zero-seed queries are the title model's alone, fitted on all the data as `title`:
            # after a refit that is the title generator itself (not fitted a second time).
            from spotifier.models.registry import create

            self.title_model = (
                self.stage_one.model("title")
                if cfg.refit
                else create("title", [f"seed={cfg.seed}"]).fit(data)
            )

    @property
    def folds(self) -> int:
        """How many validation cuts the ranker learns from: `folds`, or when 0 (the default)
        `auto_folds` with a refit and 1 without."""
        if self.config.folds > 0:
            return self.config.folds
        return self.config.auto_folds if self.config.refit else 1

    def _fit_stage(self, data: TrainingData, names: Sequence[str]) -> None:
        """Generators, transitions and side facts fitted on `data` (the previous ones are
        dropped first: one set in memory at a time).

        The side facts (popularity, album ranks and album mates) count `data`'s plays, not the
        whole training data's: in a validation cut a case's hidden tracks are no plays at all,
        as a held-out playlist's are at query time. (Counting them told the ranker that a
        hidden track had been played at least once, and made a track played nowhere else an
        album-mate candidate, which it never is for a real query.)"""
        self.stage_one, self.transitions, self.side = CandidateGenerator((), []), None, None
        self.artist_similarity = None
        self.stage_one = CandidateGenerator.fit(names, data, self.config.seed)
        self.transitions = transitions(data.interactions)
        cfg = self.config
        if cfg.artist_neighbours > 0 and data.has("artist"):  # none without artists
            self.artist_similarity = group_similarity(
                data.interactions,
                data.track_artist,
                cfg.artist_neighbours,
                cfg.artist_playlists,
                cfg.seed,
            )
        self.side = self._side(data.track_artist, data.track_album, data.interactions.track_counts)

    def _side(self, track_artist: np.ndarray, track_album: np.ndarray, counts: np.ndarray) -> Side:
        knn = [
            m for n, m in zip(self.generator_names, self.generators, strict=True) if n == "item-knn"
        ]
        similarity = knn[-1].similarity if knn and isinstance(knn[-1], ItemKNN) else None
        return Side.build(
            track_artist,
            track_album,
            counts,
            self.transitions,
            similarity,
            self.config.album_candidates,
            self.artist_similarity,
        )

    def _ranker_rows(self, cases: list[Any], sampler: NegativeSampler, rows: _RankerRows) -> None:
        """Add the cases' candidates (every positive, `negatives` sampled others) and features,
        scored by the current generators, to `rows` (features, labels, group sizes, recall)."""
        cfg = self.config
        side = self.side
        assert side is not None
        xs, ys, groups, recall = rows
        for start in track(range(0, len(cases), self.batch_size), "hybrid: ranker features"):
            chunk = cases[start : start + self.batch_size]
            queries = self.known([c.query for c in chunk])
            lists = self.stage_one.generate(queries, cfg.candidates)
            cands = pool(lists, queries, side)
            labels = [np.isin(cands.of(j), case.truth) for j, case in enumerate(chunk)]
            for case, label in zip(chunk, labels, strict=True):
                recall.setdefault(case.category, []).append(label.sum() / len(case.truth))
            # Nothing to learn to order without a held-out candidate (zero-seed queries go to
            # `title`).
            learn = np.array(
                [label.any() and self._seeded(q) for label, q in zip(labels, queries, strict=True)],
                dtype=bool,
            )
            if not learn.any():
                continue
            used = cands.subset(learn)
            x_all = collect(lists, queries, used, side)
            for j in np.flatnonzero(learn).tolist():
                case, label = chunk[j], labels[j]
                x = x_all[used.offsets[j] : used.offsets[j + 1]]
                items = cands.of(j)
                # Graded labels as R-precision credits them: a held-out track 2; another track
                # by a held-out track's artist 1 (gain artist_gain); the rest 0.
                grade = label.astype(np.float32) * 2
                if cfg.artist_gain > 0:
                    artist = side.track_artist[items]
                    same = np.isin(artist, side.track_artist[case.truth]) & ~label & (artist >= 0)
                    grade[same] = 1
                keep = sampler.sample(label)
                xs.append(x[keep])
                ys.append(grade[keep])
                groups.append(len(keep))

    def _train_ranker(self, rows: _RankerRows) -> None:
        xs, ys, groups, recall = rows
        self.report.update({f"candidate_recall_{c}": float(np.mean(v)) for c, v in recall.items()})
        challenge = [np.mean(v) for c, v in recall.items() if c.isdigit()]
        if challenge:
            self.report["candidate_recall"] = float(np.mean(challenge))
        if len(groups) < 2:
            self.reranker = None  # too little to learn from: reciprocal-rank fusion instead
            return
        names = Columns(self.generator_names).names
        self.reranker = Reranker.train(xs, ys, groups, names, self.config)
        note(
            f"hybrid: ranker trained on {len(groups)} validation cases; candidate recall "
            + ", ".join(f"{c}: {v:.2f}" for c, v in sorted(self.report.items()) if "recall" in c)
        )

    def _seeded(self, query: Query) -> bool:
        """True when the ranker answers the query; False for zero-seed queries, which the title
        generator answers on its own (the ranker never beat it there)."""
        return "title" not in self.generator_names or len(query.seeds) > 0

    # ------------------------------------------------------------------ scoring
    def _score(self, queries: Sequence[Query]) -> Scores:
        cfg = self.config
        side = self.side
        assert side is not None
        lists = self.stage_one.generate(queries, cfg.candidates)
        rows, cols, vals = [], [], []
        title_block = None
        unseeded = [j for j, query in enumerate(queries) if not self._seeded(query)]
        # The title generator's block already holds the answer unless a separate title model
        # (fitted on all the data, no refit) answers zero-seed queries.
        own_title = self.title_model is not None and not any(
            self.title_model is g for g in self.generators
        )
        if unseeded and own_title:
            assert self.title_model is not None
            title_block = sp.csr_matrix(self.title_model.score([queries[j] for j in unseeded]))
        elif unseeded:
            title_block = lists.blocks[self.generator_names.index("title")]
        for at, j in enumerate(unseeded):
            r = at if own_title else j
            if isinstance(title_block, sp.csr_matrix):
                lo, hi = title_block.indptr[r], title_block.indptr[r + 1]
                rows.append(np.full(hi - lo, j))
                cols.append(title_block.indices[lo:hi])
                vals.append(title_block.data[lo:hi].astype(np.float32))
        seeded = np.array([self._seeded(query) for query in queries], dtype=bool)
        cands = pool(lists, queries, side).subset(seeded)
        if len(cands.items):
            x_all = collect(lists, queries, cands, side)
            if self.reranker is not None:
                sizes = [s for s in np.diff(cands.offsets).tolist() if s]
                score_all = self.reranker.score(x_all, sizes)
            else:
                score_all = rank_fusion(x_all, Columns(self.generator_names), cfg.candidates)
            rows.append(cands.rows)
            cols.append(cands.items)
            vals.append(score_all)
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
        side = self.side
        assert side is not None
        queries = self.known(queries)
        out = np.zeros(len(queries))
        for start in range(0, len(queries), self.batch_size):
            batch = queries[start : start + self.batch_size]
            lists = self.stage_one.generate(batch, self.config.candidates)
            cands = pool(lists, batch, side)
            for j in range(len(batch)):
                truth = truths[start + j]
                out[start + j] = np.isin(truth, cands.of(j)).mean() if len(truth) else np.nan
        return out

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, Any]:
        keys = sorted(self.report)
        return {
            "track_artist": self.track_artist,
            "track_album": self.track_album,
            "generator_names": np.array(self.generator_names, dtype=str),
            "pair_generators": np.array(self.stage_one.pairs, dtype=str),
            "transitions": self.transitions
            if self.transitions is not None
            else sp.csr_matrix((self.n_tracks, self.n_tracks), dtype=np.float32),
            **(
                {"artist_similarity": self.artist_similarity}
                if self.artist_similarity is not None
                else {}
            ),
            "report_keys": np.array(keys, dtype=str),
            "report_values": np.array([self.report[k] for k in keys], dtype=np.float64),
        }

    def _set_state(self, arrays: dict[str, Any]) -> None:
        self.track_artist = arrays["track_artist"]
        self.track_album = arrays["track_album"]
        # Saved before the names were kept: every configured generator was fitted.
        names = arrays.get("generator_names", np.array(self.config.generators))
        # Saved before generators were asked for pair scores: every one gave its whole block.
        pairs = [str(n) for n in arrays.get("pair_generators", np.array([], dtype=str))]
        self.stage_one = CandidateGenerator([str(n) for n in names], [], pairs)
        if "transitions" in arrays:
            self.transitions = sp.csr_matrix(arrays["transitions"], dtype=np.float32)
        if "artist_similarity" in arrays:
            self.artist_similarity = sp.csr_matrix(arrays["artist_similarity"], dtype=np.float32)
        self.report = {
            str(k): float(v)
            for k, v in zip(arrays["report_keys"], arrays["report_values"], strict=True)
        }

    def _save_extra(self, path: Path) -> None:
        for name, model in zip(self.generator_names, self.generators, strict=True):
            sub = path / "generators" / name
            sub.mkdir(parents=True)
            model.save(sub)
        if self.title_model is not None and self.title_model not in self.generators:
            (path / "title-all").mkdir()
            self.title_model.save(path / "title-all")
        if self.reranker is not None:
            self.reranker.save(path / "ranker.txt")

    def _load_extra(self, path: Path) -> None:
        """The sub-models, then the side facts from them and the restored arrays."""
        from spotifier.models import registry

        names = self.generator_names
        models = [registry.load(path / "generators" / name) for name in names]
        self.stage_one = CandidateGenerator(names, models, self.stage_one.pairs)
        if (path / "title-all" / "config.json").exists():
            self.title_model = registry.load(path / "title-all")
        elif self.config.refit and "title" in names:
            self.title_model = self.stage_one.model("title")  # saved once, as a generator
        self.side = self._side(self.track_artist, self.track_album, self.popularity_counts)
        ranker_file = path / "ranker.txt"
        if ranker_file.exists():
            cfg = self.config
            self.reranker = Reranker.load(ranker_file, cfg.cascade_trees, cfg.cascade_keep)
            expected = len(Columns(names))
            if self.reranker.n_features != expected or self.transitions is None:
                raise InvalidInputError(
                    f"{path}: this hybrid was saved by an older Spotifier "
                    f"({self.reranker.n_features} ranker features, {expected} now); "
                    "train it again: spotifier train hybrid"
                )

    def _explain(self, query: Query, items: np.ndarray) -> list[str | None]:
        lists = self.stage_one.generate([query], self.config.candidates)
        out: list[str | None] = []
        for item in items.tolist():
            by = [
                f"{name} #{int(np.flatnonzero(lists.items[g, 0] == item)[0]) + 1}"
                for g, name in enumerate(self.generator_names)
                if (lists.items[g, 0] == item).any()
            ]
            out.append("proposed by " + ", ".join(by) if by else None)
        return out
