"""The in-memory shapes every part shares: interactions, the catalogue, training data, queries.

External ids live only in `Catalog` (track, artist and album ids) and `Interactions.pids` (the
store's int pids; the users' own playlist ids come from `spotifier.store.load_playlist_ids`
at the edges); everything else speaks int32 track indices and CSR matrices.

    >>> inter = Interactions.from_lists([[0, 1, 1], [2, 0]], n_tracks=3)
    >>> inter.playlist(0).tolist()
    [0, 1, 1]
    >>> inter.matrix.toarray().tolist()
    [[1.0, 2.0, 0.0], [1.0, 0.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class Interactions:
    """Playlists as ordered track sequences (repeats kept), in CSR-like layout.

    `tracks[indptr[i]:indptr[i+1]]` are playlist row i's track indices in position order.
    `titles[i]` is the playlist's name ('' when unknown or hidden).
    """

    indptr: np.ndarray  # int64, (n_playlists + 1,)
    tracks: np.ndarray  # int32, (n_entries,)
    n_tracks: int
    titles: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    pids: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))

    def __post_init__(self) -> None:
        n = len(self.indptr) - 1
        if len(self.titles) == 0 and n:
            object.__setattr__(self, "titles", np.array([""] * n, dtype=object))
        if len(self.pids) == 0 and n:
            object.__setattr__(self, "pids", np.arange(n, dtype=np.int64))

    @classmethod
    def from_lists(
        cls,
        playlists: Sequence[Sequence[int]],
        n_tracks: int,
        titles: Sequence[str] | None = None,
        pids: Sequence[int] | None = None,
    ) -> Interactions:
        lengths = np.fromiter((len(p) for p in playlists), dtype=np.int64, count=len(playlists))
        indptr = np.zeros(len(playlists) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        flat = [t for p in playlists for t in p]
        tracks = np.asarray(flat, dtype=np.int32)
        return cls(
            indptr=indptr,
            tracks=tracks,
            n_tracks=n_tracks,
            titles=np.array(
                list(titles) if titles is not None else [""] * len(playlists), dtype=object
            ),
            pids=np.asarray(
                pids if pids is not None else np.arange(len(playlists)), dtype=np.int64
            ),
        )

    @property
    def n_playlists(self) -> int:
        return len(self.indptr) - 1

    @property
    def n_entries(self) -> int:
        return len(self.tracks)

    def playlist(self, row: int) -> np.ndarray:
        return self.tracks[self.indptr[row] : self.indptr[row + 1]]

    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """Playlists x tracks, float32, value = how many times the track occurs in the playlist."""
        rows = np.repeat(np.arange(self.n_playlists, dtype=np.int32), self.lengths())
        m = sp.csr_matrix(
            (np.ones(len(self.tracks), dtype=np.float32), (rows, self.tracks)),
            shape=(self.n_playlists, self.n_tracks),
        )
        m.sum_duplicates()
        m.sort_indices()
        return m

    @cached_property
    def binary(self) -> sp.csr_matrix:
        """Playlists x tracks with every stored value 1 (presence)."""
        m = self.matrix.copy()
        m.data[:] = 1.0
        return m

    @cached_property
    def track_counts(self) -> np.ndarray:
        """How many playlists contain each track (int64, repeats inside a playlist counted once)."""
        return np.bincount(self.binary.indices, minlength=self.n_tracks).astype(np.int64)

    def subset(self, rows: np.ndarray) -> Interactions:
        """The playlists at `rows`, in that order (a copy)."""
        rows = np.asarray(rows, dtype=np.int64)
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        take = (
            np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])
            if len(rows)
            else np.array([], dtype=np.int64)
        )
        return Interactions(
            indptr=indptr,
            tracks=self.tracks[take.astype(np.int64)],
            n_tracks=self.n_tracks,
            titles=self.titles[rows],
            pids=self.pids[rows],
        )


@dataclass(frozen=True, eq=False)
class Catalog:
    """Tracks, albums and artists: the external ids and names, and int32 track→album/artist maps.

    Index i of `track_uris` is track index i everywhere in Spotifier; `track_uris` hold the
    external track ids, whatever they are (Spotify URIs, warehouse ids, numbers as text). What the
    data lacks is marked, never invented: an unknown artist or album index is -1, an unknown name
    '', an unknown duration -1. `fields` names the optional fields the data holds (see
    `spotifier.store.fields`); when not given it is worked out from the arrays.

        >>> catalog = Catalog(
        ...     track_uris=np.array(["t1", "t2"], dtype=object),
        ...     track_names=np.array(["Jolene", ""], dtype=object),
        ...     track_artist=np.array([0, -1], dtype=np.int32),
        ...     track_album=np.array([-1, -1], dtype=np.int32),
        ...     artist_uris=np.array(["a1"], dtype=object),
        ...     artist_names=np.array(["Dolly Parton"], dtype=object),
        ...     album_uris=np.array([], dtype=object),
        ...     album_names=np.array([], dtype=object),
        ... )
        >>> [catalog.label(i) for i in range(2)], sorted(catalog.fields)
        (['Dolly Parton — Jolene', 't2'], ['artist', 'artist_name', 'track_name'])
        >>> catalog.describe([1])
        [{'uri': 't2', 'name': '', 'artist': '', 'album': ''}]
    """

    track_uris: np.ndarray  # object (str), (n_tracks,)
    track_names: np.ndarray  # object (str), '' when unknown
    track_artist: np.ndarray  # int32 artist index per track, -1 when unknown
    track_album: np.ndarray  # int32 album index per track, -1 when unknown
    artist_uris: np.ndarray  # object
    artist_names: np.ndarray  # object
    album_uris: np.ndarray  # object
    album_names: np.ndarray  # object
    track_duration_ms: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int64))
    fields: frozenset[str] = field(default=None)  # type: ignore[arg-type]  # None: derived

    def __post_init__(self) -> None:
        if self.fields is None:
            object.__setattr__(self, "fields", self._derived_fields())

    def _derived_fields(self) -> frozenset[str]:
        found = set()
        for name, present in (
            ("artist", bool((self.track_artist >= 0).any())),
            ("album", bool((self.track_album >= 0).any())),
            ("track_name", any(self.track_names.tolist())),
            ("artist_name", any(self.artist_names.tolist())),
            ("album_name", any(self.album_names.tolist())),
            ("duration_ms", bool((self.track_duration_ms >= 0).any())),
            (
                "spotify_uris",
                self.n_tracks > 0
                and all(str(u).startswith("spotify:track:") for u in self.track_uris.tolist()),
            ),
        ):
            if present:
                found.add(name)
        return frozenset(found)

    @property
    def n_tracks(self) -> int:
        return len(self.track_uris)

    @cached_property
    def _uri_index(self) -> dict[str, int]:
        return {uri: i for i, uri in enumerate(self.track_uris.tolist())}

    def index_of(self, uris: Iterable[str]) -> tuple[np.ndarray, list[str]]:
        """Map track URIs to indices (order kept); return (indices, unknown URIs)."""
        index = self._uri_index
        known: list[int] = []
        unknown: list[str] = []
        for uri in uris:
            i = index.get(uri)
            if i is None:
                unknown.append(uri)
            else:
                known.append(i)
        return np.asarray(known, dtype=np.int32), unknown

    def artist_name(self, track: int) -> str:
        """The track's artist name ('' when the artist is unknown)."""
        return _at(self.artist_names, int(self.track_artist[track]))

    def album_name(self, track: int) -> str:
        """The track's album name ('' when the album is unknown)."""
        return _at(self.album_names, int(self.track_album[track]))

    def label(self, track: int) -> str:
        """How a person reads a track: "artist — name", the name alone, else its external id."""
        name = str(self.track_names[track])
        if not name:
            return str(self.track_uris[track])
        artist = self.artist_name(track)
        return f"{artist} — {name}" if artist else name

    def describe(self, indices: Iterable[int]) -> list[dict[str, str]]:
        """URI, name, artist and album for each track index (for CLI and HTTP output)."""
        return [
            {
                "uri": str(self.track_uris[i]),
                "name": str(self.track_names[i]),
                "artist": self.artist_name(i),
                "album": self.album_name(i),
            }
            for i in indices
        ]


def _at(names: np.ndarray, index: int) -> str:
    """names[index] as text, '' for an unknown (-1) or out-of-range index."""
    return str(names[index]) if 0 <= index < len(names) else ""


@dataclass(frozen=True, eq=False)
class TrainingData:
    """What a model is fit on: the training playlists and the track → artist/album maps.

    `fields` names the optional fields the data holds (`spotifier.store.fields.OPTIONAL_FIELDS`),
    so a model can skip a feature the data lacks without asking the store; when not given it is
    worked out from the arrays (titles, artists and albums).

        >>> inter = Interactions.from_lists([[0, 1], [1]], n_tracks=2)
        >>> data = TrainingData(inter, np.array([-1, -1]), np.array([0, 0]))
        >>> sorted(data.fields), data.has("title")
        (['album'], False)
    """

    interactions: Interactions
    track_artist: np.ndarray  # int32, (n_tracks,); -1 when unknown
    track_album: np.ndarray  # int32, (n_tracks,); -1 when unknown
    fields: frozenset[str] = field(default=None)  # type: ignore[arg-type]  # None: derived

    def __post_init__(self) -> None:
        if self.fields is None:
            found = set()
            if any(self.interactions.titles.tolist()):
                found.add("title")
            if (np.asarray(self.track_artist) >= 0).any():
                found.add("artist")
            if (np.asarray(self.track_album) >= 0).any():
                found.add("album")
            object.__setattr__(self, "fields", frozenset(found))

    @classmethod
    def from_catalog(cls, interactions: Interactions, catalog: Catalog) -> TrainingData:
        return cls(interactions, catalog.track_artist, catalog.track_album, catalog.fields)

    def has(self, name: str) -> bool:
        """Whether the data holds the optional field `name` (e.g. "title", "artist")."""
        return name in self.fields

    @property
    def n_tracks(self) -> int:
        return self.interactions.n_tracks

    @property
    def matrix(self) -> sp.csr_matrix:
        return self.interactions.matrix

    @property
    def titles(self) -> np.ndarray:
        return self.interactions.titles

    def fingerprint(self) -> str:
        """A short hash of the training data, recorded in a saved model's meta.json."""
        import hashlib

        h = hashlib.blake2b(digest_size=12)
        h.update(np.int64(self.n_tracks).tobytes())
        h.update(self.interactions.indptr.tobytes())
        h.update(self.interactions.tracks.tobytes())
        return h.hexdigest()


@dataclass(frozen=True, eq=False)
class Query:
    """A partial playlist to continue: seed track indices (in order) and/or a title.

    `positions` are the seeds' original positions when known (a challenge's "random" categories);
    None means the seeds are the playlist's first tracks. `num_tracks` is the full playlist
    length when known (challenge files give it).
    """

    seeds: np.ndarray = field(default_factory=lambda: np.array([], dtype=np.int32))
    name: str | None = None
    positions: np.ndarray | None = None
    num_tracks: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", np.asarray(self.seeds, dtype=np.int32))

    @property
    def is_prefix(self) -> bool:
        if self.positions is None:
            return True
        return bool(np.array_equal(self.positions, np.arange(len(self.positions))))
