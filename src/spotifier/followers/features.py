"""Playlist features for the followers study, read from the DuckDB store.

Two feature sets: the seed's seven numeric columns (plus its most-frequent-artist category) and a
richer set that adds track and artist popularity statistics, list shape, recency and the title.
Popularity is counted over every ingested playlist; it never looks at followers, so it cannot leak
the target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from spotifier.errors import InvalidInputError, NotFoundError
from spotifier.home import Home

#: The seed's numeric predictors, in the order its notebook used them.
SEED_FEATURES = (
    "collaborative",
    "duration_min_mean",
    "num_albums",
    "num_artists",
    "num_edits",
    "num_tracks",
    "duration_ms",
)

RICH_FEATURES = (
    "collaborative",
    "log_num_tracks",
    "log_num_albums",
    "log_num_artists",
    "log_num_edits",
    "edits_per_track",
    "album_ratio",
    "artist_ratio",
    "duration_min_mean",
    "log_duration_hours",
    "days_before_latest",
    "modified_year",
    "has_description",
    "title_chars",
    "track_pop_mean",
    "track_pop_median",
    "track_pop_max",
    "track_pop_min",
    "track_pop_std",
    "rare_track_share",
    "artist_pop_mean",
    "repeat_share",
)

_PUNCT = re.compile(r"[.,/#!$%^*;:{}=_`~()@]")


def normalize_title(title: str) -> str:
    """The MPD's title normalization: lower-case, punctuation to space, spaces squeezed.

    >>> normalize_title("  Chill   Vibes!! (2017)")
    'chill vibes 2017'
    """
    return " ".join(_PUNCT.sub(" ", title.lower()).split())


@dataclass(frozen=True, eq=False)
class FollowersTable:
    """One row per sampled playlist: the target, both feature sets, the category and the title."""

    pids: np.ndarray  # int64
    followers: np.ndarray  # float64, >= 1
    seed_x: np.ndarray  # float64, (n, len(SEED_FEATURES))
    rich_x: np.ndarray  # float64, (n, len(RICH_FEATURES))
    top_artist: np.ndarray  # object (str)
    titles: np.ndarray  # object (str), normalized
    modified_at: np.ndarray  # int64 epoch seconds

    def __len__(self) -> int:
        return len(self.pids)

    def take(self, rows: np.ndarray) -> FollowersTable:
        return FollowersTable(
            self.pids[rows],
            self.followers[rows],
            self.seed_x[rows],
            self.rich_x[rows],
            self.top_artist[rows],
            self.titles[rows],
            self.modified_at[rows],
        )


_QUERY = """
WITH pop AS (
    SELECT track_idx, count(DISTINCT pid) AS n FROM entries GROUP BY track_idx
), apop AS (
    SELECT t.artist_idx, count(*) AS n FROM entries e JOIN tracks t USING (track_idx)
    GROUP BY t.artist_idx
), per_entry AS (
    SELECT e.pid, e.track_idx, ln(pop.n) AS tp, pop.n AS tn, ln(apop.n) AS ap
    FROM entries e
    JOIN sample_pids s ON s.pid = e.pid
    JOIN pop USING (track_idx)
    JOIN tracks t USING (track_idx)
    JOIN apop ON apop.artist_idx = t.artist_idx
), per_playlist AS (
    SELECT pid,
        avg(tp) AS track_pop_mean, median(tp) AS track_pop_median, max(tp) AS track_pop_max,
        min(tp) AS track_pop_min, coalesce(stddev_pop(tp), 0) AS track_pop_std,
        avg(CASE WHEN tn <= 1 THEN 1.0 ELSE 0.0 END) AS rare_track_share,
        avg(ap) AS artist_pop_mean,
        1.0 - count(DISTINCT track_idx) / count(*) AS repeat_share
    FROM per_entry GROUP BY pid
), latest AS (SELECT max(modified_at) AS m FROM playlists)
SELECT f.pid, f.num_followers::DOUBLE AS followers,
    CASE WHEN f.collaborative THEN 1.0 ELSE 0.0 END AS collaborative,
    f.duration_ms_mean / 60000.0 AS duration_min_mean,
    f.num_albums::DOUBLE AS num_albums, f.num_artists::DOUBLE AS num_artists,
    f.num_edits::DOUBLE AS num_edits, f.num_tracks::DOUBLE AS num_tracks,
    f.duration_ms::DOUBLE AS duration_ms,
    f.modified_at, coalesce(f.top_artist, '') AS top_artist, coalesce(f.name, '') AS name,
    (latest.m - f.modified_at) / 86400.0 AS days_before_latest,
    year(to_timestamp(f.modified_at))::DOUBLE AS modified_year,
    CASE WHEN coalesce(p.description, '') <> '' THEN 1.0 ELSE 0.0 END AS has_description,
    pp.*
FROM playlist_features f
JOIN sample_pids s ON s.pid = f.pid
JOIN playlists p ON p.pid = f.pid
JOIN per_playlist pp ON pp.pid = f.pid
CROSS JOIN latest
ORDER BY f.pid
"""


def load_table(home: Home, max_playlists: int | None = None, seed: int = 0) -> FollowersTable:
    """Read the features of up to `max_playlists` playlists (a uniform sample, fixed by `seed`)."""
    import pyarrow as pa

    from spotifier import store

    if not home.store_path.exists():
        raise NotFoundError(f"no store at {home.store_path}; run: spotifier ingest MPD_DIR")
    con = store.connect(home, read_only=True)
    try:
        _require_fields(con)
        pids = con.execute("SELECT pid FROM playlists ORDER BY pid").fetchnumpy()["pid"]
        if len(pids) == 0:
            raise NotFoundError(f"the store at {home.store_path} holds no playlists")
        pids = np.asarray(pids, dtype=np.int64)
        if max_playlists is not None and len(pids) > max_playlists:
            rng = np.random.default_rng(seed)
            pids = np.sort(rng.choice(pids, size=max_playlists, replace=False))
        con.register("sample_pids", pa.table({"pid": pids}))
        cols = con.execute(_QUERY).fetchnumpy()
    finally:
        con.close()
    return _assemble(cols)


#: The MPD playlist fields the study regresses on (and its target, num_followers).
NEEDED_FIELDS = ("num_followers", "num_edits", "modified_at", "duration_ms")


def _require_fields(con: Any) -> None:
    """One clear error when the data lacks what the study needs (own playlists often do)."""
    from spotifier.store.fields import describe_absent, present_fields

    present = present_fields(con)
    missing = [describe_absent(f) for f in NEEDED_FIELDS if f not in present]
    if missing:
        raise InvalidInputError(
            f"the followers study needs the MPD's playlist fields: {'; '.join(missing)}"
        )


def _col(cols: dict[str, np.ndarray], name: str) -> np.ndarray:
    return np.asarray(cols[name], dtype=np.float64)


def _assemble(cols: dict[str, np.ndarray]) -> FollowersTable:
    n_tracks = np.maximum(_col(cols, "num_tracks"), 1.0)
    titles = np.array([normalize_title(str(t)) for t in cols["name"]], dtype=object)
    derived = {
        "log_num_tracks": np.log1p(n_tracks),
        "log_num_albums": np.log1p(_col(cols, "num_albums")),
        "log_num_artists": np.log1p(_col(cols, "num_artists")),
        "log_num_edits": np.log1p(_col(cols, "num_edits")),
        "edits_per_track": _col(cols, "num_edits") / n_tracks,
        "album_ratio": _col(cols, "num_albums") / n_tracks,
        "artist_ratio": _col(cols, "num_artists") / n_tracks,
        "log_duration_hours": np.log1p(_col(cols, "duration_ms") / 3.6e6),
        "title_chars": np.array([len(t) for t in titles], dtype=np.float64),
    }
    rich = np.column_stack([derived[f] if f in derived else _col(cols, f) for f in RICH_FEATURES])
    seed_x = np.column_stack([_col(cols, f) for f in SEED_FEATURES])
    return FollowersTable(
        pids=np.asarray(cols["pid"], dtype=np.int64),
        followers=_col(cols, "followers"),
        seed_x=np.nan_to_num(seed_x),
        rich_x=np.nan_to_num(rich),
        top_artist=np.asarray(cols["top_artist"], dtype=object),
        titles=titles,
        modified_at=np.asarray(cols["modified_at"], dtype=np.int64),
    )
