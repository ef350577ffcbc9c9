"""Deterministic, plausible names and URIs, derived by hashing (seed, kind, index).

Hashing instead of drawing from a shared random stream means any worker can name any entity on
demand, in any order, and get the same answer: one name per URI across the whole generated dataset.

    >>> uris("track", np.arange(2), seed=0)[0].decode()[:0] + "ok"
    'ok'
    >>> len(uris("track", np.arange(3), seed=0)[2])
    22
    >>> track_names(np.array([5]), seed=1) == track_names(np.array([5]), seed=1)
    True
"""

from __future__ import annotations

import numpy as np

_ALPHABET = np.frombuffer(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8
)
_SALT = {"track": 1, "album": 2, "artist": 3, "title": 4, "track_name": 5, "album_name": 6,
         "artist_name": 7, "description": 8}  # fmt: skip
_M64 = (1 << 64) - 1


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer over a uint64 array (wrapping arithmetic)."""
    x = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _keys(kind: str, ids: np.ndarray, seed: int) -> np.ndarray:
    base = np.uint64((seed * 0x100000001B3 + _SALT[kind] * 0x51ED27) & _M64)
    with np.errstate(over="ignore"):
        return mix64(mix64(np.asarray(ids, dtype=np.uint64) ^ base) + base)


def uris(kind: str, ids: np.ndarray, seed: int) -> np.ndarray:
    """22-character base62 ids (dtype S22) for `spotify:<kind>:<id>` URIs."""
    ids = np.asarray(ids, dtype=np.uint64)
    digits = np.empty((len(ids), 22), dtype=np.uint8)
    with np.errstate(over="ignore"):
        h = _keys(kind, ids, seed)
        col = 0
        for round_ in range(3):
            for _ in range(10 if round_ < 2 else 2):
                digits[:, col] = _ALPHABET[(h % np.uint64(62)).astype(np.intp)]
                h = h // np.uint64(62)
                col += 1
            h = mix64(h + np.uint64(round_ + 1) + _keys(kind, ids, seed + round_ + 1))
    return digits.view("S22").ravel()


_SYLLABLES = (  # noqa: SIM905 - a word list reads better as text
    "ka ra mi lo ven tas sol ri da na bel mon tre vi lu ze co fa ny jo sa le ma ro kel dar "
    "lin mar vel ost ine ara ex ion ley son ton ber ric al ey an el or us bé rö ño lé zé mü "
    "sø jö cé ña ï ü "
).split()
_WORDS = (  # noqa: SIM905 - a word list reads better as text
    "love night fire heart dream summer rain gold blue wild time light young dance home city "
    "river ocean sky star moon sun road girl boy baby money crazy party forever never "
    "tonight lost free ghost shadow paradise sugar honey diamond thunder storm wave echo "
    "fever mirror heaven angel devil stranger lonely broken faded alive higher closer slow "
    "fast electric neon midnight morning sunday friday highway street garden fever silver "
    "velvet cherry lemonade champagne whiskey cowboy hometown truck dirt backroad bonfire "
    "pray grace glory believe hallelujah jingle snow bells winter holiday magic kingdom "
    "princess hero legend fade hold run fall rise shine burn breathe wait stay leave feel "
    "touch call "
).split()
_FIRST = (  # noqa: SIM905 - a word list reads better as text
    "sarah jake emily mike jess chris alex sam katie josh megan tyler hannah ryan lauren "
    "matt ashley nick rachel kyle amanda zach olivia dylan maria jose sofia luis ana "
).split()
_SUFFIX = ("", "", "", "", " - Remix", " - Live", " - Acoustic", " - Radio Edit", " (feat. {x})")
_ALBUM_SUFFIX = ("", "", "", "", "", " (Deluxe)", " (Deluxe Edition)", " - EP", " - Single")
_NOISE_FORMS = 9


def _take(h: int, n: int) -> tuple[int, int]:
    return h % n, h // n


def _pseudo(h: int) -> tuple[str, int]:
    k, h = _take(h, 3)
    parts = []
    for _ in range(k + 1):
        s, h = _take(h, len(_SYLLABLES))
        parts.append(_SYLLABLES[s])
    return "".join(parts).capitalize(), h


def _word(h: int) -> tuple[str, int]:
    if h % 2 == 0:
        return _pseudo(h // 2)
    w, h = _take(h // 2, len(_WORDS))
    return _WORDS[w].capitalize(), h


def _wide(kind: str, ids: np.ndarray, seed: int) -> list[int]:
    """128 bits of hash per id, as Python ints (enough for a dozen small choices)."""
    a = _keys(kind, ids, seed).tolist()
    b = _keys(kind, ids, seed + 7919).tolist()
    return [(x << 64) | y for x, y in zip(a, b, strict=True)]


def artist_names(ids: np.ndarray, seed: int) -> list[str]:
    out = []
    for h in _wide("artist_name", ids, seed):
        form, h = _take(h, 8)
        a, h = _pseudo(h)
        if form <= 2:
            out.append(a)
            continue
        b, h = _word(h)
        if form == 3:
            out.append(f"{a} {b}")
        elif form == 4:
            out.append(f"The {b}s")
        elif form == 5:
            out.append(f"DJ {a}" if h % 2 else f"Lil {a}")
        elif form == 6:
            out.append(f"{a} & The {b}s")
        else:
            out.append(f"{b} {a}")
    return out


def track_names(ids: np.ndarray, seed: int) -> list[str]:
    out = []
    for h in _wide("track_name", ids, seed):
        n, h = _take(h, 4)
        words = []
        for _ in range(n + 1):
            w, h = _word(h)
            words.append(w)
        suffix, h = _take(h, len(_SUFFIX))
        text = _SUFFIX[suffix]
        if "{x}" in text:
            other, h = _pseudo(h)
            text = text.replace("{x}", other)
        out.append(" ".join(words) + text)
    return out


def album_names(ids: np.ndarray, seed: int) -> list[str]:
    out = []
    for h in _wide("album_name", ids, seed):
        n, h = _take(h, 3)
        words = []
        for _ in range(n + 1):
            w, h = _word(h)
            words.append(w)
        suffix, h = _take(h, len(_ALBUM_SUFFIX))
        out.append(" ".join(words) + _ALBUM_SUFFIX[suffix])
    return out


def noise_titles(ids: np.ndarray, seed: int) -> list[str]:
    """Personal playlist titles (no signal about content), one per vocabulary index."""
    out = []
    for h in _wide("title", ids, seed):
        form, h = _take(h, _NOISE_FORMS)
        w1, h = _word(h)
        w2, h = _word(h)
        f, h = _take(h, len(_FIRST))
        year, h = _take(h, 8)
        name = _FIRST[f].capitalize()
        out.append(
            (
                w1,
                f"{w1} {w2}",
                f"{name}'s playlist",
                f"{w1} {2010 + year}",
                f"{name} {w1}",
                f"my {w1.lower()} mix",
                f"{w1} songs",
                f"{w1} & {w2}",
                f"{w1} {w2} {name}",
            )[form]
        )
    return out


def descriptions(ids: np.ndarray, seed: int, titles: list[str]) -> list[str]:
    """Short playlist descriptions that mention the title."""
    out = []
    for h, title in zip(_wide("description", ids, seed), titles, strict=True):
        form, h = _take(h, 4)
        w, h = _word(h)
        out.append(
            (
                f"{title} songs for {w.lower()} days",
                f"my favorite {title.lower()}",
                f"{w} {title.lower()} \u2764",
                f"songs to {w.lower()} to",
            )[form]
        )
    return out
