"""Track autocomplete: an in-memory token index over track and artist names, built once.

Every track is indexed under the lower-cased, accent-free word tokens of its name and its
artist's name; a track without a name (own playlists with ids only) under the tokens of its
external id instead. A query's complete words must all match exactly; its last word (while it
is still being typed) matches as a prefix. Results come most popular first.

Tracks are renumbered by popularity rank (0 = most popular), so every posting list is sorted
by rank and "the most popular matches" is "the smallest ranks": a search walks candidates in
rank order and stops after `limit` hits, never scanning the catalogue per keystroke. Each
track's token ids are kept in track order too, so another popularity order (a retrained model,
`reordered`) only permutes arrays.

    >>> from spotifier.data import Catalog
    >>> catalog = Catalog(
    ...     track_uris=np.array(["t:0", "t:1", "t:2"], dtype=object),
    ...     track_names=np.array(["Hey Jude", "Heroes", "Jolene"], dtype=object),
    ...     track_artist=np.array([0, 1, 2], dtype=np.int32),
    ...     track_album=np.array([0, 1, 2], dtype=np.int32),
    ...     artist_uris=np.array(["a:0", "a:1", "a:2"], dtype=object),
    ...     artist_names=np.array(["The Beatles", "David Bowie", "Dolly Parton"], dtype=object),
    ...     album_uris=np.array(["b:0", "b:1", "b:2"], dtype=object),
    ...     album_names=np.array(["Hey Jude", "Heroes", "Jolene"], dtype=object),
    ... )
    >>> index = TrackIndex(catalog, popularity=np.array([5, 9, 1]))
    >>> index.search("he").tolist()  # 'Heroes' is the more popular
    [1, 0]
    >>> index.search("dolly jo").tolist()
    [2]
    >>> index.search("bowie ").tolist(), index.search("zzz").tolist()
    ([1], [])
    >>> import dataclasses
    >>> bare = dataclasses.replace(catalog, track_names=np.array(["", "", ""], dtype=object),
    ...                            track_artist=np.array([-1, -1, -1], dtype=np.int32))
    >>> TrackIndex(bare, popularity=np.array([5, 9, 1])).search("t:").tolist()
    [1, 0, 2]
    >>> TrackIndex(bare).search("t 2").tolist()
    [2]
"""

from __future__ import annotations

import copy
import re
import unicodedata

import numpy as np

from spotifier.data import Catalog

_WORD = re.compile(r"\w+")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
#: Prefixes this short match so many tokens that their best tracks are precomputed.
_SHORT_PREFIX = 2
#: How many tracks are kept per short prefix (the largest `limit` a search may ask for).
MAX_LIMIT = 100
_CHUNK = 2048


def normalize(text: str) -> str:
    """Lower-case, accents (combining diacritical marks) removed.

    >>> normalize("Beyoncé  ÉTÉ"), normalize("Motörhead"), normalize("ABBA")
    ('beyonce  ete', 'motorhead', 'abba')
    """
    if text.isascii():
        return text.lower()  # the common case, and 20x faster
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text.casefold()))


def tokenize(text: str) -> list[str]:
    """Word tokens of `text`, normalized.

    >>> tokenize("Don't Stop Me Now (Remastered)")
    ['don', 't', 'stop', 'me', 'now', 'remastered']
    """
    return _WORD.findall(normalize(text))


class TrackIndex:
    """Token → tracks and track → tokens, both in popularity-rank space."""

    def __init__(self, catalog: Catalog, popularity: np.ndarray | None = None) -> None:
        n = catalog.n_tracks
        self.n_tracks = n
        # A trailing empty set: the tokens of an unknown artist (index -1).
        artist_tokens = [frozenset(tokenize(str(a))) for a in catalog.artist_names.tolist()]
        artist_tokens.append(frozenset())
        names = catalog.track_names.tolist()
        ids = catalog.track_uris.tolist()
        artists = catalog.track_artist.tolist()
        # Names repeat a lot ("Intro", "Home"): tokenize each distinct name once.
        name_tokens: dict[str, frozenset[str]] = {}
        per_track: list[frozenset[str]] = []
        for track in range(n):
            name = names[track] or ids[track]  # no name: found by its id
            tokens = name_tokens.get(name)
            if tokens is None:
                tokens = name_tokens[name] = frozenset(tokenize(str(name)))
            per_track.append(tokens | artist_tokens[artists[track]])
        vocab: set[str] = set().union(*name_tokens.values(), *artist_tokens)
        self.vocab = np.array(sorted(vocab), dtype=str)
        token_id = {token: i for i, token in enumerate(self.vocab.tolist())}
        # track → sorted token ids (CSR): what a new popularity order only permutes
        lengths = np.fromiter((len(t) for t in per_track), dtype=np.int64, count=n)
        self._track_indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=self._track_indptr[1:])
        self._track_tokens = np.fromiter(
            (tid for tokens in per_track for tid in sorted(token_id[t] for t in tokens)),
            dtype=np.int32,
            count=int(lengths.sum()),
        )
        self._rank(np.zeros(n, dtype=np.int64) if popularity is None else popularity)

    def reordered(self, popularity: np.ndarray) -> TrackIndex:
        """This index with its hits in another popularity order: nothing is tokenized again
        (numpy only, about a tenth of building it), and this one is left as it is.

        >>> from spotifier.data import Catalog
        >>> catalog = Catalog(
        ...     track_uris=np.array(["t:0", "t:1"], dtype=object),
        ...     track_names=np.array(["Hey Jude", "Heroes"], dtype=object),
        ...     track_artist=np.array([0, 0], dtype=np.int32),
        ...     track_album=np.array([0, 0], dtype=np.int32),
        ...     artist_uris=np.array(["a:0"], dtype=object),
        ...     artist_names=np.array(["The Beatles"], dtype=object),
        ...     album_uris=np.array(["b:0"], dtype=object),
        ...     album_names=np.array(["Hey Jude"], dtype=object),
        ... )
        >>> index = TrackIndex(catalog, popularity=np.array([5, 9]))
        >>> index.reordered(np.array([9, 5])).search("he").tolist(), index.search("he").tolist()
        ([0, 1], [1, 0])
        """
        index = copy.copy(self)  # the track-space arrays are shared, never written
        index._rank(popularity)
        return index

    def _rank(self, popularity: np.ndarray) -> None:
        """The rank-space arrays (and short-prefix answers) for `popularity` (one count a track)."""
        n = self.n_tracks
        counts = np.asarray(popularity)
        if len(counts) != n:
            raise ValueError(f"popularity has {len(counts)} entries for {n} catalogue tracks")
        # rank → track id, most popular first; equal counts by lower track id.
        self.track_of_rank = np.lexsort((np.arange(n), -counts)).astype(np.int32)
        # rank → sorted token ids (CSR): each track's tokens, gathered in rank order
        starts = self._track_indptr[self.track_of_rank]
        lengths = self._track_indptr[self.track_of_rank + 1] - starts
        self.rank_indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.rank_indptr[1:])
        total = int(self.rank_indptr[-1])
        offsets = np.repeat(starts - self.rank_indptr[:-1], lengths)
        self.rank_tokens = self._track_tokens[np.arange(total, dtype=np.int64) + offsets]
        # token → ascending ranks (CSR): a stable sort by token id keeps ranks ascending.
        ranks = np.repeat(np.arange(n, dtype=np.int32), lengths)
        order = np.argsort(self.rank_tokens, kind="stable")
        self.token_ranks = ranks[order]
        self.token_indptr = np.zeros(len(self.vocab) + 1, dtype=np.int64)
        np.cumsum(
            np.bincount(self.rank_tokens, minlength=len(self.vocab)), out=self.token_indptr[1:]
        )
        self._short: dict[str, np.ndarray] = {}
        for length in range(1, _SHORT_PREFIX + 1):
            for prefix in sorted({t[:length] for t in self.vocab.tolist() if len(t) >= length}):
                lo, hi = self._token_range(prefix)
                self._short[prefix] = self._best_ranks(lo, hi, MAX_LIMIT)

    # ------------------------------------------------------------------ lookups
    def _token_range(self, prefix: str) -> tuple[int, int]:
        """Token ids [lo, hi) starting with `prefix` (the vocabulary is sorted)."""
        lo = int(np.searchsorted(self.vocab, prefix, side="left"))
        hi = int(np.searchsorted(self.vocab, prefix + "\U0010ffff", side="left"))
        return lo, hi

    def _best_ranks(self, lo: int, hi: int, limit: int) -> np.ndarray:
        """The `limit` smallest ranks of any token in [lo, hi): one contiguous slice of postings."""
        block = self.token_ranks[self.token_indptr[lo] : self.token_indptr[hi]]
        return np.unique(block)[:limit]

    def _has_token_in(self, ranks: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """For each rank, whether the track has a token id in [lo, hi)."""
        starts, ends = self.rank_indptr[ranks], self.rank_indptr[ranks + 1]
        lengths = ends - starts
        if lengths.sum() == 0:
            return np.zeros(len(ranks), dtype=bool)
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        flat = self.rank_tokens[np.arange(int(lengths.sum())) + offsets]
        hit = (flat >= lo) & (flat < hi)
        owner = np.repeat(np.arange(len(ranks)), lengths)
        return np.bincount(owner, weights=hit, minlength=len(ranks)) > 0

    def search(self, query: str, limit: int = 20) -> np.ndarray:
        """Track ids matching `query`, most popular first (at most `limit`)."""
        limit = max(0, min(int(limit), MAX_LIMIT))
        words = tokenize(query)
        if not words or limit == 0:
            return np.array([], dtype=np.int32)
        typing_last = not query[-1:].isspace() and normalize(query[-1:]).isalnum()
        prefix = words.pop() if typing_last else None
        ranges: list[tuple[int, int]] = []
        for word in dict.fromkeys(words):
            lo = int(np.searchsorted(self.vocab, word))
            if lo >= len(self.vocab) or self.vocab[lo] != word:
                return np.array([], dtype=np.int32)
            ranges.append((lo, lo + 1))
        if prefix is not None:
            lo, hi = self._token_range(prefix)
            if lo == hi:
                return np.array([], dtype=np.int32)
            if not ranges:
                short = self._short.get(prefix)
                best = short[:limit] if short is not None else self._best_ranks(lo, hi, limit)
                return self.track_of_rank[best]
            ranges.append((lo, hi))
        # Drive by the rarest exact word; filter the others in rank-ordered chunks.
        sizes = [int(self.token_indptr[hi] - self.token_indptr[lo]) for lo, hi in ranges]
        driver = ranges.pop(int(np.argmin(sizes)) if prefix is None else int(np.argmin(sizes[:-1])))
        candidates = self.token_ranks[self.token_indptr[driver[0]] : self.token_indptr[driver[1]]]
        found: list[np.ndarray] = []
        total = 0
        for start in range(0, len(candidates), _CHUNK):
            chunk = candidates[start : start + _CHUNK]
            keep = np.ones(len(chunk), dtype=bool)
            for lo, hi in ranges:
                keep &= self._has_token_in(chunk, lo, hi)
            found.append(chunk[keep])
            total += int(keep.sum())
            if total >= limit:
                break
        ranks = np.concatenate(found)[:limit] if found else np.array([], dtype=np.int32)
        return self.track_of_rank[ranks]
