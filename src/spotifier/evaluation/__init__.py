"""The evaluation harness: recommend for held-out playlists, score, compare, write submissions."""

from spotifier.evaluation.harness import (
    BASELINE,
    ORACLE,
    evaluate,
    load_oracle,
    read_result,
    resolve_split,
    result_path,
)
from spotifier.evaluation.runner import (
    K,
    oracle_items,
    recommend_cases,
    sample_cases,
    score_cases,
)
from spotifier.evaluation.submission import (
    challenge_queries,
    read_truth,
    recommend_challenge,
    require_spotify_uris,
    score_submission,
)

__all__ = [
    "BASELINE",
    "ORACLE",
    "K",
    "challenge_queries",
    "evaluate",
    "load_oracle",
    "oracle_items",
    "read_result",
    "read_truth",
    "recommend_cases",
    "recommend_challenge",
    "require_spotify_uris",
    "resolve_split",
    "result_path",
    "sample_cases",
    "score_cases",
    "score_submission",
]
