"""Validation: every rule of the official checker (plus 5-250 tracks) names the field it breaks,
the vectorized ingest path rejects exactly what the validator rejects, and junk never crashes."""

from __future__ import annotations

import copy
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "data"))
from mpd_fixtures import playlist, track

from spotifier.mpd import ConsistencyChecker, validate_info, validate_playlist
from spotifier.mpd.format import PLAYLIST_FIELDS, TRACK_FIELDS
from spotifier.store import columns
from spotifier.store.columns import columns_of, parse_slice_file

Mutation = Callable[[dict[str, Any]], Any]


def _set(key: str, value: Any) -> Mutation:
    return lambda p: p.__setitem__(key, value)


def _drop(key: str) -> Mutation:
    return lambda p: p.pop(key)


def _set_track(i: int, key: str, value: Any) -> Mutation:
    return lambda p: p["tracks"][i].__setitem__(key, value)


def _valid() -> dict[str, Any]:
    return playlist(7, [1, 2, 3, 4, 5, 6, 1], name="Road trip", description="long drives")


RULES: list[tuple[str, Mutation, str]] = [
    *((f"missing {k}", _drop(k), k) for k in PLAYLIST_FIELDS),
    ("unknown field", _set("colour", "red"), "colour"),
    ("pid not an int", _set("pid", "7"), "pid"),
    ("pid negative", _set("pid", -1), "pid"),
    ("pid too large", _set("pid", 1_000_000), "pid"),
    ("name empty", _set("name", ""), "name"),
    ("name not a string", _set("name", 12), "name"),
    ("description not a string", _set("description", None), "description"),
    ("collaborative a boolean", _set("collaborative", True), "collaborative"),
    ("collaborative other string", _set("collaborative", "yes"), "collaborative"),
    ("modified_at a float", _set("modified_at", 1.5e9), "modified_at"),
    ("modified_at negative", _set("modified_at", -86400), "modified_at"),
    ("followers zero", _set("num_followers", 0), "num_followers"),
    ("followers a boolean", _set("num_followers", True), "num_followers"),
    ("edits zero", _set("num_edits", 0), "num_edits"),
    ("num_tracks wrong", _set("num_tracks", 8), "num_tracks"),
    ("num_albums wrong", _set("num_albums", 1), "num_albums"),
    ("num_artists wrong", _set("num_artists", 99), "num_artists"),
    ("duration wrong", _set("duration_ms", 1), "duration_ms"),
    ("count beyond int64", _set("duration_ms", 2**64), "duration_ms"),
    ("tracks not a list", _set("tracks", {"0": 1}), "tracks"),
    ("too short", lambda p: p.update(playlist(7, [1, 2, 3, 4])), "tracks"),
    ("too long", lambda p: p.update(playlist(7, list(range(251)))), "tracks"),
    ("pos out of order", _set_track(2, "pos", 3), "tracks[2].pos"),
    ("pos a string", _set_track(0, "pos", "0"), "tracks[0].pos"),
    ("track not an object", lambda p: p["tracks"].__setitem__(3, "x"), "tracks[3]"),
    ("track key missing", lambda p: p["tracks"][1].pop("album_name"), "tracks[1].album_name"),
    ("track key unknown", _set_track(1, "popularity", 3), "tracks[1].popularity"),
    (
        "track uri of album kind",
        _set_track(0, "track_uri", "spotify:album:" + "a" * 22),
        "tracks[0].track_uri",
    ),
    (
        "artist uri 21 chars",
        _set_track(4, "artist_uri", "spotify:artist:" + "a" * 21),
        "tracks[4].artist_uri",
    ),
    (
        "album uri punctuation",
        _set_track(4, "album_uri", "spotify:album:" + "a-" * 11),
        "tracks[4].album_uri",
    ),
    ("track name not a string", _set_track(5, "track_name", 3), "tracks[5].track_name"),
    ("artist name null", _set_track(5, "artist_name", None), "tracks[5].artist_name"),
    ("duration negative", _set_track(6, "duration_ms", -1), "tracks[6].duration_ms"),
    ("duration a float", _set_track(6, "duration_ms", 1000.0), "tracks[6].duration_ms"),
]


def test_valid_playlist_has_no_violations() -> None:
    assert validate_playlist(_valid(), "f.json") == []


@pytest.mark.parametrize(("rule", "mutate", "field"), RULES, ids=[r[0] for r in RULES])
def test_each_rule_is_caught_naming_the_field(rule: str, mutate: Mutation, field: str) -> None:
    broken = _valid()
    mutate(broken)
    problems = validate_playlist(broken, "mpd.slice.0-999.json")
    assert field in {v.field for v in problems}, problems
    assert all(v.file == "mpd.slice.0-999.json" for v in problems)
    assert str(problems[0]).startswith("mpd.slice.0-999.json: ")
    if (
        rule not in {"pid not an int", "pid negative", "pid too large"}
        and "missing pid" not in rule
    ):
        assert problems[0].pid == 7

    # the vectorized ingest path rejects exactly this playlist, for the same reasons
    others = [playlist(1, [1, 2, 3, 4, 5]), playlist(2, [3, 4, 5, 6, 7, 8])]
    parsed = columns_of([others[0], broken, others[1]], "mpd.slice.0-999.json")
    assert parsed.playlists["pid"].to_pylist() == [1, 2]
    assert [(i, vs) for i, vs in parsed.rejected] == [(1, problems)]


def test_info_block_rules() -> None:
    assert validate_info({"generated_on": "x", "slice": "0-999", "version": "v1"}, "f") == []
    fields = {v.field for v in validate_info({"slice": 3, "extra": 1}, "f")}
    assert fields == {"info.generated_on", "info.slice", "info.version", "info.extra"}
    assert [v.field for v in validate_info(None, "f")] == ["info"]


def test_consistency_one_name_per_uri_and_unique_pids() -> None:
    checker = ConsistencyChecker()
    a = playlist(1, [1, 2, 3, 4, 5])
    assert checker.check(a, "f") == []
    renamed = playlist(2, [6, 7, dict(track(3), track_name="Other"), 8, 9])
    assert [v.field for v in checker.check(renamed, "f")] == ["tracks[2].track_name"]
    artist = playlist(3, [6, 7, 8, 9, dict(track(10), artist_name="Someone")])
    assert [v.field for v in checker.check(artist, "f")] == ["tracks[4].artist_name"]
    album = playlist(4, [dict(track(12), album_name="Else"), 13, 14, 15, 16])
    assert [v.field for v in checker.check(album, "f")] == ["tracks[0].album_name"]
    again = playlist(1, [20, 21, 22, 23, 24])
    assert [v.field for v in checker.check(again, "g")] == ["pid"]
    # rejected playlists recorded nothing: track 6 is still unknown, so a new name is accepted
    assert checker.check(playlist(5, [dict(track(6), track_name="Six"), 7, 8, 9, 10]), "f") == []


def test_slice_level_cross_rules_reject_the_later_playlist() -> None:
    first = playlist(1, [1, 2, 3, 4, 5])
    dup = playlist(1, [6, 7, 8, 9, 10])
    renamed = playlist(2, [dict(track(2), track_name="Renamed"), 6, 7, 8, 9])
    parsed = columns_of([first, dup, renamed, playlist(3, [2, 3, 4, 5, 6])], "s.json")
    assert parsed.playlists["pid"].to_pylist() == [1, 3]
    assert [(i, [v.field for v in vs]) for i, vs in parsed.rejected] == [
        (1, ["pid"]),
        (2, ["tracks[0].track_name"]),
    ]
    # the kept playlists' catalogue uses the reference names, in order of first appearance
    assert parsed.tracks["track_name"].to_pylist()[:2] == ["Track 1", "Track 2"]
    assert parsed.n_read == 4


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
)
_junk = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)
_keys = st.sampled_from([*PLAYLIST_FIELDS, "description", "extra"])
_track_keys = st.sampled_from([*TRACK_FIELDS, "extra"])


@st.composite
def _mutated(draw: st.DrawFn) -> Any:
    """A valid playlist with a few fields (of the playlist or a track) replaced by junk."""
    p = copy.deepcopy(_valid())
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            p[draw(_keys)] = draw(_junk)
        elif isinstance(p.get("tracks"), list) and p["tracks"]:
            t = p["tracks"][draw(st.integers(0, len(p["tracks"]) - 1))]
            if isinstance(t, dict):
                t[draw(_track_keys)] = draw(_junk)
    return p


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_junk, _mutated()), max_size=4))
def test_validation_never_crashes_on_junk(items: list[Any]) -> None:
    problems = [validate_playlist(item, "junk.json") for item in items]
    parsed = columns_of(items, "junk.json")  # never raises
    rejected = {i for i, _ in parsed.rejected}
    clean = [i for i, p in enumerate(problems) if not p]
    assert set(range(len(items))) - rejected <= set(clean)
    assert parsed.n_playlists == len(items) - len(rejected)


def _parsed_equal(a: Any, b: Any) -> None:
    assert a.playlists.equals(b.playlists)
    for attr in ("entry_row", "entry_pos", "entry_track"):
        assert np.array_equal(getattr(a, attr), getattr(b, attr)), attr
    for attr in ("tracks", "artists", "albums"):
        assert getattr(a, attr).equals(getattr(b, attr)), attr
    assert (a.rejected, a.n_read, a.info_problems) == (b.rejected, b.n_read, b.info_problems)


def _by_dicts(path: Path) -> Any:
    """The general path alone: orjson into dicts, then the rules."""
    data = orjson.loads(path.read_bytes())
    parsed = columns_of(data["playlists"], path.name, "", 0)
    parsed.info_problems = validate_info(data.get("info"), path.name)
    return parsed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(st.integers(0, 40), _mutated()), min_size=1, max_size=4),
    st.one_of(st.none(), st.just({"generated_on": "x", "slice": "0-999", "version": "v1"}), _junk),
)
def test_typed_decoding_gives_what_the_dict_path_gives(items: list[Any], info: Any) -> None:
    """A slice of clean playlists (ints) and broken ones: the typed decoder, or the dict path
    it falls back to, gives exactly the columns, rejections and info problems of the dict path."""
    playlists = [
        playlist(100 + i, [item, item + 1, item + 2, item + 3, item + 4])
        if isinstance(item, int)
        else item
        for i, item in enumerate(items)
    ]
    try:  # the stdlib writes ints beyond 64 bits too; infinities are not JSON
        text = json.dumps({"info": info, "playlists": playlists}, allow_nan=False)
    except ValueError:
        reject()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mpd.slice.0-999.json"
        path.write_text(text)
        parsed = parse_slice_file(str(path))
        assert not isinstance(parsed, str)
        _parsed_equal(parsed, _by_dicts(path))


def test_a_clean_slice_never_builds_dicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mpd.slice.0-999.json"
    info = {"generated_on": "x", "slice": "0-999", "version": "v1"}
    pls = [playlist(1, [1, 2, 3, 4, 5], description="d"), playlist(2, [3, 4, 5, 6, 7, 8])]
    path.write_bytes(orjson.dumps({"info": info, "playlists": pls}))
    expected = _by_dicts(path)
    monkeypatch.setattr(columns, "parse_slice", None)  # the dict path would fail
    parsed = parse_slice_file(str(path))
    _parsed_equal(parsed, expected)
    assert parsed.playlists["description"].to_pylist() == ["d", None]
    pls[1]["description"] = None  # explicit null: not clean, so the dict path must run
    path.write_bytes(orjson.dumps({"info": info, "playlists": pls}))
    with pytest.raises(TypeError):
        parse_slice_file(str(path))
