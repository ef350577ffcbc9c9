"""The 2018 challenge's metrics, one ranked list at a time (formulas as in MPD.md).

G is the set of held-out tracks, R the ranked recommendations, ranks 1-based. `recommended` is a
ranked sequence and `relevant` a sequence or set of the same id type (URIs or ints); repeats in
`relevant` count once. Every function raises `ValueError` when `relevant` is empty: a playlist
with nothing held out cannot be scored.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

#: The worst clicks value: no hit anywhere in the list.
NO_HIT_CLICKS = 51
#: The artist of a track whose artist the data does not know (as in `spotifier.data.Catalog`).
UNKNOWN_ARTIST = -1


class ArtistLookup(Protocol):
    def __getitem__(self, track: Any, /) -> Any: ...


def _truth(relevant: Iterable[Any]) -> set[Any]:
    truth = set(relevant)
    if not truth:
        raise ValueError("relevant is empty: there is nothing to score against")
    return truth


def r_precision(
    recommended: Sequence[Any],
    relevant: Collection[Any],
    artist_of: ArtistLookup | Mapping[Any, Any] | None = None,
) -> float:
    """(track hits in R[1..|G|] + 0.25 × artists credited) / |G|.

    An artist of G is credited once when a non-hit track in R[1..|G|] is by that artist. Without
    `artist_of` (a track → artist mapping), the track-only R-precision. Artist credit applies
    only where artists are known: a track whose artist is None or `UNKNOWN_ARTIST` (-1) neither
    earns nor gives credit, so data without artists scores the track-only value.

    >>> r_precision(["a", "x", "b", "c"], {"a", "b", "c"})  # 2 of the top 3 are held out
    0.6666666666666666
    >>> artist = {"a": 1, "b": 1, "c": 2, "x": 2}
    >>> r_precision(["a", "x", "b", "c"], {"a", "b", "c"}, artist)  # x is by artist 2, as c
    0.75
    >>> r_precision(["a", "x", "b", "c"], {"a", "b", "c"}, {**artist, "c": -1, "x": -1})
    0.6666666666666666
    """
    truth = _truth(relevant)
    top = list(dict.fromkeys(recommended[: len(truth)]))
    hits = sum(1 for item in top if item in truth)
    credit = 0
    if artist_of is not None:
        truth_artists = {artist_of[item] for item in truth} - _UNKNOWN
        credit = len({artist_of[item] for item in top if item not in truth} & truth_artists)
    return (hits + 0.25 * credit) / len(truth)


_UNKNOWN = {None, UNKNOWN_ARTIST}


def dcg(gains: Sequence[float]) -> float:
    """rel_1 + Σ_{i≥2} rel_i / log2(i).

    >>> dcg([1, 1, 0, 1])
    2.5
    """
    return sum(g if i == 1 else g / math.log2(i) for i, g in enumerate(gains, start=1) if g)


def ndcg(recommended: Sequence[Any], relevant: Collection[Any]) -> float:
    """DCG of R over the IDCG of a perfect list of min(|G|, |R|) hits; 0 for an empty R.

    >>> ndcg(["a", "b"], {"a", "b"})
    1.0
    >>> round(ndcg(["x", "a"], {"a"}), 4)  # the hit at rank 2: (1/log2 2) / 1
    1.0
    >>> round(ndcg(["x", "y", "a"], {"a", "b"}), 4)  # (1/log2 3) / (1 + 1/log2 2)
    0.3155
    """
    truth = _truth(relevant)
    ranked = list(dict.fromkeys(recommended))
    if not ranked:
        return 0.0
    ideal = dcg([1.0] * min(len(truth), len(ranked)))
    return dcg([1.0 if item in truth else 0.0 for item in ranked]) / ideal


def clicks(recommended: Sequence[Any], relevant: Collection[Any]) -> int:
    """Recommended Songs clicks: floor((rank of the first hit − 1) / 10); 51 without a hit.

    >>> clicks(["a", "b"], {"a"}), clicks(["x"] * 10 + ["a"], {"a"}), clicks([], {"a"})
    (0, 1, 51)
    """
    truth = _truth(relevant)
    for rank, item in enumerate(recommended, start=1):
        if item in truth:
            return (rank - 1) // 10
    return NO_HIT_CLICKS


def hit_at(recommended: Sequence[Any], relevant: Collection[Any], k: int) -> float:
    """1.0 when any of the top k is held out, else 0.0 (the seed's success measure at k=100).

    >>> hit_at(["x", "a"], {"a"}, 1), hit_at(["x", "a"], {"a"}, 2)
    (0.0, 1.0)
    """
    truth = _truth(relevant)
    return 1.0 if any(item in truth for item in recommended[:k]) else 0.0


def recall_at(recommended: Sequence[Any], relevant: Collection[Any], k: int) -> float:
    """|R[1..k] ∩ G| / |G|.

    >>> recall_at(["a", "x", "b"], {"a", "b", "c", "d"}, 2)
    0.25
    """
    truth = _truth(relevant)
    return len(set(recommended[:k]) & truth) / len(truth)
