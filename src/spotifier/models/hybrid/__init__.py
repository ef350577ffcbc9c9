"""`hybrid`: candidates from several models re-ranked by a learning-to-rank GBM.

One module per stage, after RecTools' `CandidateRankingModel`: `candidates` (generation and
look-up), `side` (popularity, transitions, artist co-occurrence), `features` (the named feature
columns and their collector), `ranker` (negative sampler and reranker), `config` and `model`
(the `Recommender` that composes them).
"""

from spotifier.models.hybrid.config import HybridConfig
from spotifier.models.hybrid.model import Hybrid

__all__ = ["Hybrid", "HybridConfig"]
