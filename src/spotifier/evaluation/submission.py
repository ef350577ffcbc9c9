"""Challenge submissions: recommend for an official challenge set, and score any submission.

Challenge pids are not MPD pids, so nothing is looked up by pid: each playlist's seeds are mapped
to track indices (`Catalog.index_of`) and folded in at query time like any new playlist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spotifier.data import Catalog, Query
from spotifier.errors import InvalidInputError
from spotifier.evaluation.runner import K, Recommends
from spotifier.metrics import METRIC_KEYS, aggregate, score_playlist
from spotifier.mpd.challenge import ChallengeSet, read_submission
from spotifier.progress import track
from spotifier.split import category_of

_BATCH = 256


def require_spotify_uris(catalog: Catalog, command: str) -> None:
    """Refuse, in one line, an MPD-only command on a store whose track ids are not Spotify URIs:
    a challenge set, a submission and the official verifier speak Spotify URIs only."""
    if "spotify_uris" not in catalog.fields:
        raise InvalidInputError(
            f"spotifier {command} works on Million Playlist Dataset stores only, and this "
            "store's track ids are not Spotify URIs (own playlists); score models on a split "
            "with: spotifier evaluate MODEL"
        )


def challenge_queries(challenge: ChallengeSet, catalog: Catalog) -> tuple[list[Query], list[str]]:
    """One query per challenge playlist (seeds folded in by URI); and the unknown seed URIs."""
    queries, unknown = [], []
    for playlist in challenge.playlists:
        known, missing = catalog.index_of(playlist.seed_uris)
        unknown.extend(missing)
        dropped = set(missing)
        positions = [
            p
            for p, u in zip(playlist.positions, playlist.seed_uris, strict=True)
            if u not in dropped
        ]
        queries.append(
            Query(
                seeds=known,
                name=playlist.name or None,
                positions=np.asarray(positions, dtype=np.int32),
                num_tracks=playlist.num_tracks,
            )
        )
    return queries, unknown


def recommend_challenge(
    model: Recommends, challenge: ChallengeSet, catalog: Catalog, k: int = K
) -> tuple[list[tuple[int, list[str]]], list[str]]:
    """(pid, k unique non-seed track URIs) per challenge playlist, and the unknown seed URIs."""
    queries, unknown = challenge_queries(challenge, catalog)
    rows: list[tuple[int, list[str]]] = []
    uris = catalog.track_uris
    starts = range(0, len(queries), _BATCH)
    for start in track(starts, "recommending", total=len(starts)):
        block = model.recommend(queries[start : start + _BATCH], k).items
        for offset, items in enumerate(block):
            playlist = challenge.playlists[start + offset]
            ranked = [str(uris[t]) for t in items.tolist() if t >= 0]
            seeds = set(playlist.seed_uris)
            ranked = [u for u in dict.fromkeys(ranked) if u not in seeds]
            if len(ranked) < k:
                raise InvalidInputError(
                    f"the catalogue has too few tracks for {k} recommendations "
                    f"(pid {playlist.pid} got {len(ranked)})"
                )
            rows.append((playlist.pid, ranked[:k]))
    return rows, unknown


def read_truth(path: str | Path) -> dict[int, list[str]]:
    """`truth.json`: held-out track URIs per pid (`{"<pid>": [uri, ...]}`)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        return {int(pid): [str(u) for u in uris] for pid, uris in doc.items()}
    except FileNotFoundError as exc:
        raise InvalidInputError(f"{path}: no such truth file") from exc
    except (ValueError, AttributeError, TypeError) as exc:
        raise InvalidInputError(f"{path}: not a truth file ({{pid: [track uris]}})") from exc


def score_submission(
    submission: str | Path,
    challenge: ChallengeSet,
    truth: Mapping[int, list[str]],
    artist_of: Mapping[str, Any] | None = None,
    categories: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """Overall and per-category means of a submission against held-out truth.

    A truth pid without a submission line scores as an empty list (counted in `missing`). The
    category of each pid comes from `categories`, else from its challenge entry.
    """
    _, lines, _ = read_submission(submission)
    ranked: dict[int, list[str]] = {}
    for line in lines:
        try:
            pid = int(line.pid)
        except ValueError:
            continue
        ranked.setdefault(pid, list(line.uris[:K]))
    entries = challenge.by_pid()
    rows = []
    missing = 0
    for pid, relevant in truth.items():
        if not relevant:
            continue
        if pid not in ranked:
            missing += 1
        if categories is not None and pid in categories:
            category = categories[pid]
        elif pid in entries:
            entry = entries[pid]
            category = _category(entry.num_samples, entry.name is not None, entry.positions)
        else:
            category = "other"
        lookup = None
        if artist_of is not None and all(u in artist_of for u in relevant):
            lookup = _ArtistOrNone(artist_of)
        row: dict[str, Any] = {"pid": pid, "category": category}
        row.update(score_playlist(ranked.get(pid, []), relevant, lookup))
        rows.append(row)
    overall, per_category = aggregate(rows, METRIC_KEYS[:-1])
    return {
        "overall": overall,
        "per_category": per_category,
        "missing": missing,
        "artist_credit": artist_of is not None,
    }


def _category(num_samples: int, has_title: bool, positions: tuple[int, ...]) -> str:
    try:
        return str(category_of(num_samples, has_title, positions))
    except InvalidInputError:
        return "other"


class _ArtistOrNone:
    """Artist lookup where a URI the store does not know has no artist (never credited)."""

    def __init__(self, artists: Mapping[str, Any]) -> None:
        self.artists = artists

    def __getitem__(self, uri: str) -> Any:
        return self.artists.get(uri)  # None: unknown, never credited (metrics.r_precision)
