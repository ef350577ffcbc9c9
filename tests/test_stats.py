"""Stats on a tiny hand-made dataset whose figures are worked out by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))
from mpd_fixtures import playlist, track, write_slice

from spotifier.errors import NotFoundError
from spotifier.store import compute_stats, ingest


@pytest.fixture
def stats(tmp_path: Path) -> dict:
    # track n is by artist n % 7 on album n % 11 (see mpd_fixtures.track)
    write_slice(
        tmp_path / "w",
        [
            playlist(0, [1, 2, 3, 4, 5, 1], name="Chill", description="sunday"),
            playlist(1, [1, 2, 6, 7, 8], name="chill!!"),
            playlist(2, [9, 10, 11, 12, 13], name="Rap", collaborative="true"),
        ],
    )
    ingest(tmp_path / "h", tmp_path / "w", workers=1)
    return compute_stats(tmp_path / "h", top=3)


def test_official_figures(stats: dict) -> None:
    assert stats["playlists"] == 3
    assert stats["tracks"] == 16  # every entry, the repeat of track 1 included
    assert stats["unique_tracks"] == 13
    assert stats["unique_artists"] == 7  # 1..13 mod 7
    assert stats["unique_albums"] == 11  # 1..13 mod 11
    assert stats["unique_titles"] == 3
    assert stats["unique_normalized_titles"] == 2  # "chill" and "rap"
    assert stats["playlists_with_descriptions"] == 1
    assert stats["collaborative"] == 1
    assert stats["avg_playlist_length"] == pytest.approx(16 / 3, abs=1e-4)


def test_top_lists(stats: dict) -> None:
    assert stats["top_titles"] == [{"title": "chill", "count": 2}, {"title": "rap", "count": 1}]
    tops = [(t["uri"], t["count"]) for t in stats["top_tracks"]]
    assert tops[:2] == [(track(1)["track_uri"], 3), (track(2)["track_uri"], 2)]
    assert stats["top_tracks"][0]["artist"] == "Artist 1"
    # artist 1: track 1 three times + track 8; artist 2: track 2 twice + track 9
    artists = [(a["name"], a["count"]) for a in stats["top_artists"]]
    assert artists[:2] == [("Artist 1", 4), ("Artist 2", 3)]
    assert len(artists) == 3


def test_histograms(stats: dict) -> None:
    assert stats["histograms"]["length"] == [[5, 2], [6, 1]]
    assert stats["histograms"]["followers"] == [[1, 1], [2, 1], [3, 1]]  # 1 + pid % 3
    assert stats["histograms"]["edits"] == [[1, 1], [2, 1], [3, 1]]  # 1 + pid % 4


def test_stats_without_a_store(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="spotifier ingest"):
        compute_stats(tmp_path / "empty")
