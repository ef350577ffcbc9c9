"""`title`: cold start from the playlist name.

Training titles are normalized (MPD.md's rule: lower-case, punctuation to space) and grouped;
each distinct title gets a track profile (how often each track appears in playlists of that name).
A query's title is matched against the distinct titles by character n-gram TF-IDF cosine; the
`neighbours` closest titles vote with weight `similarity^power · profile`. Playlists with blank
titles are ignored. It answers every zero-seed titled query for the other models (see chain.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from spotifier.data import Query, TrainingData
from spotifier.errors import require
from spotifier.models.base import ModelConfig, Recommender, Scores
from spotifier.models.config import NonNegativeFloat, NonNegativeInt, PositiveInt
from spotifier.models.similarity import pack_strings, top_k_per_row, unpack_strings
from spotifier.models.workspace import per_thread
from spotifier.mpd import normalize_name


@dataclass(frozen=True)
class TitleConfig(ModelConfig):
    """Settings of `title`. Defaults chosen on the default world (20,000 playlists, seed 0):
    title-only validation cases cut from training playlists held out of the fit (`python
    bench/models_bench.py tune`, grid neighbours 20/50/100 x power 1/2/4 x group_exponent
    0/0.5/1, then prior 0.5-50 x group_exponent 0/0.5 x power 2/4 on 300 cases cut with
    `validation_cases(data, 3000, seed=1)`)."""

    ngram_min: PositiveInt = 2
    """Shortest character n-gram (inside word boundaries) compared between titles."""
    ngram_max: PositiveInt = 4
    """Longest character n-gram; at least `ngram_min`."""
    neighbours: PositiveInt = 50
    """Distinct training titles that vote (20, 50 and 100 barely differed)."""
    power: NonNegativeFloat = 4.0
    """A title's vote weight is cosine ** power; 4 was best (R-precision 0.067 vs 0.047-0.066)."""
    group_exponent: NonNegativeFloat = 0.0
    """A title's profile is track counts / (playlists with that title) ** exponent: 1 gives
    frequencies, 0 raw counts, so titles shared by many playlists outweigh the prior (best with
    prior 8)."""
    profile_tracks: NonNegativeInt = 2000
    """Each title keeps only its most frequent tracks (0 = all): this bounds the candidates, and
    so the time, where a title is shared by many playlists; 2,000 kept the metrics (R-precision
    0.0668, NDCG 0.1177 vs 0.1179 for all) at a third of the recommend time."""
    prior: NonNegativeFloat = 8.0
    """Smoothing toward popularity: each of the `prior_tracks` most popular tracks gets prior x
    (its playlist count / the top track's) added to its votes, so a personal title ("Megan
    Sugar") is answered mostly by popularity and "country" by its playlists. Prior 8: R-precision
    0.0131 / NDCG 0.0435 against popularity's 0.0096 / 0.0346 and no prior's 0.0098 / 0.0312."""
    prior_tracks: NonNegativeInt = 2000
    """How many of the most popular tracks the prior covers."""

    def check(self) -> None:
        if self.ngram_max < self.ngram_min:
            raise self.reject("ngram_max", f"at least ngram_min ({self.ngram_min})")


class TitleModel(Recommender):
    """Scores tracks by the playlists whose titles look like the query's title."""

    name = "title"
    config_class = TitleConfig
    handles_titles = True
    config: TitleConfig

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__(config)
        self.title_bytes = np.array([], dtype=np.uint8)
        self.title_offsets = np.zeros(1, dtype=np.int64)
        self.profiles = sp.csr_matrix((0, 0), dtype=np.float32)
        self.title_vectors = sp.csr_matrix((0, 0), dtype=np.float32)
        self.vocab_bytes = np.array([], dtype=np.uint8)
        self.vocab_offsets = np.zeros(1, dtype=np.int64)
        self.idf = np.array([], dtype=np.float64)
        self._vectorizer: Any = None
        self._titles: list[str] | None = None
        self._terms: tuple[sp.csr_matrix, sp.csr_matrix] | None = None
        self._prior: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _new_vectorizer(self, vocabulary: dict[str, int] | None = None) -> Any:
        require("sklearn", "models")
        from sklearn.feature_extraction.text import TfidfVectorizer

        cfg = self.config
        return TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=(cfg.ngram_min, cfg.ngram_max),
            sublinear_tf=True,
            dtype=np.float32,
            vocabulary=vocabulary,
        )

    def _fit(self, data: TrainingData) -> None:
        inter = data.interactions
        normalized = np.array([normalize_name(str(t)) for t in inter.titles.tolist()], dtype=object)
        titled = np.flatnonzero(normalized != "")
        # Grouped through a dict, not `np.unique(... .astype(str))`: a fixed-width string array
        # pads every title to the longest one (a 50 MB title asked for 190 GiB). Same sorted
        # order (code points) and groups as before.
        values = normalized[titled].tolist()
        distinct = sorted(set(values))
        index = {title: i for i, title in enumerate(distinct)}
        group = np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))
        membership = sp.csr_matrix(
            (np.ones(len(titled), dtype=np.float32), (group, titled)),
            shape=(len(distinct), inter.n_playlists),
        )
        counts = sp.csr_matrix(membership @ inter.binary.astype(np.float32))
        sizes = np.asarray(membership.sum(axis=1)).ravel()
        scale = np.power(np.maximum(sizes, 1.0), -self.config.group_exponent).astype(np.float32)
        self.profiles = sp.csr_matrix(sp.diags(scale) @ counts, dtype=np.float32)
        if self.config.profile_tracks > 0:
            self.profiles = top_k_per_row(self.profiles, self.config.profile_tracks)
        self.title_bytes, self.title_offsets = pack_strings(distinct)
        self._titles = list(distinct)
        if len(distinct):
            vectorizer = self._new_vectorizer()
            self.title_vectors = sp.csr_matrix(
                vectorizer.fit_transform(self._titles), dtype=np.float32
            )
            terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
            self.vocab_bytes, self.vocab_offsets = pack_strings(terms)
            self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)
            self._vectorizer = vectorizer
        else:
            self.title_vectors = sp.csr_matrix((0, 0), dtype=np.float32)

    @property
    def vectorizer(self) -> Any:
        if self._vectorizer is None:
            terms = unpack_strings(self.vocab_bytes, self.vocab_offsets)
            vectorizer = self._new_vectorizer({term: i for i, term in enumerate(terms)})
            vectorizer.idf_ = self.idf
            self._vectorizer = vectorizer
        return self._vectorizer

    @property
    def title_terms(self) -> sp.csr_matrix:
        """`title_vectors` transposed (terms x titles) as CSR, built once per fit or load: the
        product with the transposed view converted it anew on every call."""
        if self._terms is None or self._terms[0] is not self.title_vectors:
            self._terms = (self.title_vectors, sp.csr_matrix(self.title_vectors.T))
        return self._terms[1]

    @property
    def knows_titles(self) -> bool:
        """False when every training title was blank: the model can only answer popularity."""
        return self.profiles.shape[0] > 0

    @property
    def titles(self) -> list[str]:
        if self._titles is None:
            self._titles = unpack_strings(self.title_bytes, self.title_offsets)
        return self._titles

    def title_weights(self, queries: Sequence[Query]) -> sp.csr_matrix:
        """Queries x distinct training titles: the kept titles' vote weights."""
        names = [normalize_name(q.name or "") for q in queries]
        n_titles = self.profiles.shape[0]
        if n_titles == 0 or not any(names):
            return sp.csr_matrix((len(queries), n_titles), dtype=np.float32)
        vectors = sp.csr_matrix(self.vectorizer.transform(names), dtype=np.float32)
        sims = sp.csr_matrix(vectors @ self.title_terms)
        sims.data = np.minimum(sims.data, 1.0)
        sims.eliminate_zeros()
        kept = top_k_per_row(sims, self.config.neighbours)
        kept.data = np.power(kept.data, self.config.power).astype(np.float32)
        return kept

    def _score(self, queries: Sequence[Query]) -> Scores:
        weights = self.title_weights(queries)
        scores = sp.csr_matrix(weights @ self.profiles)
        if self.config.prior <= 0:
            return scores
        # Smoothing towards popularity: a query whose title matches few playlists (a personal
        # title) is mostly answered by the prior; one matching a large group ("country") by it.
        # Queries whose title matches no training title get no prior: the back-fill has them.
        top, dense = self.prior
        return _plus_prior(scores, np.diff(weights.indptr) > 0, top, dense)

    @property
    def prior(self) -> tuple[np.ndarray, np.ndarray]:
        """The popularity prior: its tracks (the `prior_tracks` most played) and a track-wide
        float32 array holding `prior` x each one's share of the top count (0 elsewhere); built
        once per fit or load."""
        counts = self.popularity_counts
        if self._prior is None or self._prior[0] is not counts:
            top = self.popularity_order[: self.config.prior_tracks]
            share = counts[top] / max(1, int(counts.max()))
            dense = np.zeros(self.n_tracks, dtype=np.float32)
            dense[top] = self.config.prior * share.astype(np.float32)
            self._prior = (counts, top, dense)
        return self._prior[1], self._prior[2]

    def _state(self) -> dict[str, Any]:
        return {
            "title_bytes": self.title_bytes,
            "title_offsets": self.title_offsets,
            "profiles": self.profiles,
            "title_vectors": self.title_vectors,
            "vocab_bytes": self.vocab_bytes,
            "vocab_offsets": self.vocab_offsets,
            "idf": self.idf,
        }

    def _set_state(self, arrays: dict[str, Any]) -> None:
        self.title_bytes = arrays["title_bytes"]
        self.title_offsets = arrays["title_offsets"]
        self.profiles = sp.csr_matrix(arrays["profiles"], dtype=np.float32)
        self.title_vectors = sp.csr_matrix(arrays["title_vectors"], dtype=np.float32)
        self.vocab_bytes = arrays["vocab_bytes"]
        self.vocab_offsets = arrays["vocab_offsets"]
        self.idf = arrays["idf"]
        self._vectorizer = None
        self._titles = None

    def _explain(self, query: Query, items: np.ndarray) -> list[str | None]:
        weights = self.title_weights([query])
        rows = weights.indices[np.lexsort((weights.indices, -weights.data))]
        valid = (items >= 0) & (items < self.n_tracks)
        present = np.zeros((len(rows), len(items)), dtype=bool)
        if len(rows):
            present[:, valid] = self.profiles[rows][:, items[valid]].toarray() > 0
        out: list[str | None] = []
        for j in range(len(items)):
            names = [f"'{self.titles[r]}'" for r in rows[present[:, j]][:3]]
            out.append("in playlists named " + ", ".join(names) if names else None)
        return out


def _plus_prior(
    scores: sp.csr_matrix, titled: np.ndarray, top: np.ndarray, prior: np.ndarray
) -> sp.csr_matrix:
    """`scores` plus the prior in each `titled` row (`prior`: track-wide, nonzero at the tracks
    `top` only): every entry the float32 sum scipy's `scores + prior_block` gives (x + 0.0 is x),
    zeros left out as it leaves them, without the two track-wide arrays scipy's sum clears on
    every call (1.4 of a 2.8 ms query alone at 220k tracks). A row's entries keep their order,
    the prior's other tracks follow (a block's row order means nothing: `as_block`)."""
    seen = per_thread("title_seen", scores.shape[1], np.bool_, False)
    indptr, indices, data = scores.indptr, scores.indices, scores.data
    out_indices, out_data = [], []
    counts = np.zeros(scores.shape[0], dtype=np.int64)
    for j in range(scores.shape[0]):
        idx, vals = indices[indptr[j] : indptr[j + 1]], data[indptr[j] : indptr[j + 1]]
        if titled[j]:
            vals = vals + prior[idx]
            seen[idx] = True
            rest = top[~seen[top]]
            seen[idx] = False
            idx, vals = np.concatenate([idx, rest]), np.concatenate([vals, prior[rest]])
        if not vals.all():
            idx, vals = idx[vals != 0], vals[vals != 0]
        out_indices.append(idx)
        out_data.append(vals.astype(np.float32, copy=False))
        counts[j] = len(idx)
    out_indptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out_indptr[1:])
    empty = np.zeros(0, dtype=np.float32)
    return sp.csr_matrix(
        (
            np.concatenate(out_data) if out_data else empty,
            np.concatenate(out_indices) if out_indices else empty.astype(np.int32),
            out_indptr,
        ),
        shape=scores.shape,
    )
