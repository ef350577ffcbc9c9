"""A small in-memory world (interactions + catalogue with valid URIs) for tests of the harness.

Playlists have MPD-like lengths (5–250) and draw from one of a few track clusters, so a model
that uses seeds beats popularity. Track URIs are valid `spotify:track:<22 base62>`.

    >>> inter, catalog = tiny_mpd(50, seed=1)
    >>> inter.n_playlists, catalog.n_tracks == inter.n_tracks
    (50, True)
    >>> all(len(u) == len("spotify:track:") + 22 for u in catalog.track_uris)
    True
"""

from __future__ import annotations

import numpy as np

from spotifier.data import Catalog, Interactions

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def make_uri(kind: str, i: int, salt: int = 0) -> str:
    """A deterministic valid Spotify URI for index `i`.

    >>> make_uri("track", 0)
    'spotify:track:0000000000000000000000'
    """
    n = i + salt * 1_000_003
    chars = []
    for _ in range(22):
        n, r = divmod(n, 62)
        chars.append(_BASE62[r])
    return f"spotify:{kind}:{''.join(reversed(chars))}"


def tiny_mpd(
    n_playlists: int = 300, n_tracks: int = 1500, n_clusters: int = 4, seed: int = 0
) -> tuple[Interactions, Catalog]:
    rng = np.random.default_rng(seed)
    cluster_of = np.arange(n_tracks) % n_clusters
    names = np.array(["rock", "chill", "party", "country", "jazz", "rap"])
    playlists, titles = [], []
    for _ in range(n_playlists):
        cluster = int(rng.integers(n_clusters))
        pool = np.flatnonzero(cluster_of == cluster)
        length = int(np.clip(rng.lognormal(3.9, 0.7), 5, 250))
        weights = 1.0 / (1.0 + np.arange(len(pool)))
        tracks = rng.choice(
            pool, size=min(length, len(pool)), replace=False, p=weights / weights.sum()
        )
        if length > 30 and rng.random() < 0.3:  # an occasional repeat, as in the real MPD
            tracks = np.append(tracks, tracks[0])
        playlists.append(tracks.tolist())
        titles.append(str(names[cluster % len(names)]))
    inter = Interactions.from_lists(
        playlists, n_tracks, titles=titles, pids=list(range(1000, 1000 + n_playlists))
    )
    n_artists = n_tracks // 5
    n_albums = n_tracks // 3
    catalog = Catalog(
        track_uris=np.array([make_uri("track", i) for i in range(n_tracks)], dtype=object),
        track_names=np.array([f"Track {i}" for i in range(n_tracks)], dtype=object),
        track_artist=(np.arange(n_tracks) // 5).astype(np.int32),
        track_album=(np.arange(n_tracks) // 3).astype(np.int32),
        artist_uris=np.array([make_uri("artist", i) for i in range(n_artists + 1)], dtype=object),
        artist_names=np.array([f"Artist {i}" for i in range(n_artists + 1)], dtype=object),
        album_uris=np.array([make_uri("album", i) for i in range(n_albums + 1)], dtype=object),
        album_names=np.array([f"Album {i}" for i in range(n_albums + 1)], dtype=object),
        track_duration_ms=np.full(n_tracks, 200_000, dtype=np.int64),
    )
    return inter, catalog
