"""The catalogue as the server answers with it: names as plain lists, each track's JSON fragment,
and the search index in popularity order.

A `ServedCatalog` is built once at start-up from the store's catalogue and the default model's
popularity counts (the tracks' play counts in the data it was trained on: search hits come most
popular first, as that model sees them). It is immutable: when a hot reload brings a default model
trained on other data, or a model that knows tracks ingested since start-up, `refreshed` builds
the new one beside the old (the caller swaps it in at once), reusing whatever did not change.

Track indices are stable across ingests (a new track gets the next index; a known one keeps its
index and stored name), so a newer catalogue extends the old one: a request prepared on the old
one is rendered correctly with the new one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from spotifier.data import Catalog
from spotifier.serve.search import TrackIndex


@dataclass(frozen=True, eq=False)
class ServedCatalog:
    """One version of the catalogue's answer-side views; shared read-only by every request."""

    catalog: Catalog
    # Plain lists: describing 500 items must not cost 500 numpy scalar lookups per field.
    uris: list[str]
    names: list[str]
    artists: list[str]
    albums: list[str]
    #: Each track's JSON fragment up to its score (`track_fragments`), encoded once: ~0.5 s and
    #: ~120 MB for 580k tracks, against 1-2 ms for a request meeting 500 tracks the first time.
    fragments: list[bytes]
    #: Play count per catalogue track (0 past the model's tracks): the search order.
    popularity: np.ndarray
    index: TrackIndex

    @classmethod
    def build(cls, catalog: Catalog, counts: np.ndarray) -> ServedCatalog:
        """The views of `catalog`, its search hits ordered by `counts` (a model's
        `popularity_counts`; tracks past its end count 0)."""
        uris = [str(u) for u in catalog.track_uris.tolist()]
        names = [str(n) for n in catalog.track_names.tolist()]
        # A trailing '': a track whose artist or album is unknown (index -1) gets ''.
        artist_names = [str(a) for a in catalog.artist_names.tolist()] + [""]
        album_names = [str(a) for a in catalog.album_names.tolist()] + [""]
        popularity = padded(counts, catalog.n_tracks)
        return cls(
            catalog=catalog,
            uris=uris,
            names=names,
            artists=[artist_names[a] for a in catalog.track_artist.tolist()],
            albums=[album_names[a] for a in catalog.track_album.tolist()],
            fragments=track_fragments(uris, names, artist_names, album_names, catalog),
            popularity=popularity,
            index=TrackIndex(catalog, popularity),
        )

    def refreshed(
        self, n_tracks: int, counts: np.ndarray, load_catalog: Callable[[], Catalog]
    ) -> ServedCatalog:
        """The views to serve a model knowing `n_tracks` tracks with `counts` as the search order:
        this one when nothing changed, else a new one built now.

        The store's catalogue is read again (`load_catalog`) only when the model knows more tracks
        than this one (the store grew and the model was retrained on it); the lists and fragments
        are rebuilt only then; a new order alone re-ranks the search index without tokenizing again.
        """
        catalog = self.catalog
        if n_tracks > catalog.n_tracks:
            catalog = load_catalog()
            if catalog.n_tracks > self.catalog.n_tracks:
                return ServedCatalog.build(catalog, counts)
        popularity = padded(counts, catalog.n_tracks)
        if np.array_equal(popularity, self.popularity):
            return self
        return dataclasses.replace(
            self, popularity=popularity, index=self.index.reordered(popularity)
        )

    def describe(self, track: int) -> dict[str, Any]:
        return {
            "uri": self.uris[track],
            "name": self.names[track],
            "artist": self.artists[track],
            "album": self.albums[track],
        }


def padded(counts: np.ndarray, n_tracks: int) -> np.ndarray:
    """`counts` as int64 over `n_tracks` tracks: zeros past its end, cut beyond `n_tracks`.

    >>> padded(np.array([3, 1]), 4).tolist(), padded(np.array([3, 1, 2]), 2).tolist()
    ([3, 1, 0, 0], [3, 1])
    """
    popularity = np.zeros(n_tracks, dtype=np.int64)
    counts = np.asarray(counts)[:n_tracks]
    popularity[: len(counts)] = counts
    return popularity


def track_fragments(
    uris: list[str], names: list[str], artists: list[str], albums: list[str], catalog: Catalog
) -> list[bytes]:
    """`{"uri":…,"name":…,"artist":…,"album":…,"score":` for every track, as orjson writes it.

    Each field is encoded by one `orjson.dumps` of the whole list: in its output `","` only ever
    separates two items (a quote inside a string is escaped), so splitting on it gives each
    string's encoded body.

    >>> names = ['say "hi"', "a\\\\b", 'q","q', "", "x"]
    >>> [orjson.dumps(n)[1:-1] for n in names] == _encoded_bodies(names)
    True
    """
    uri, name = _encoded_bodies(uris), _encoded_bodies(names)
    artist, album = _encoded_bodies(artists), _encoded_bodies(albums)
    track_artist, track_album = catalog.track_artist.tolist(), catalog.track_album.tolist()
    template = b'{"uri":"%b","name":"%b","artist":"%b","album":"%b","score":'
    return [
        template % (u, n, artist[a], album[b])
        for u, n, a, b in zip(uri, name, track_artist, track_album, strict=True)
    ]


def _encoded_bodies(values: list[str]) -> list[bytes]:
    """Each string JSON-encoded as orjson does, without its quotes."""
    if not values:
        return []
    return orjson.dumps(values)[2:-2].split(b'","')
