"""The slice writer: byte-identical to json.dumps(indent=4), canonical key order, atomic files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotifier.mpd.format import PLAYLIST_FIELDS, TRACK_FIELDS
from spotifier.mpd.writer import (
    dumps_slice,
    encode_value,
    track_tail,
    write_bytes,
    write_slice,
)

text = st.text(st.characters(codec="utf-8"), max_size=12)  # any code point, escapes included
ints = st.integers(min_value=0, max_value=2**53)

track_st = st.fixed_dictionaries(
    {
        "artist_name": text,
        "track_uri": text,
        "artist_uri": text,
        "track_name": text,
        "album_uri": text,
        "duration_ms": ints,
        "album_name": text,
    }
)


@st.composite
def playlist_st(draw: st.DrawFn) -> dict:
    drawn = draw(st.lists(track_st, max_size=4))
    # canonical key order, as in real files (the writer reorders anything else)
    tracks = [{"pos": i, **{k: t[k] for k in TRACK_FIELDS[1:]}} for i, t in enumerate(drawn)]
    playlist = {"name": draw(text)}
    if draw(st.booleans()):
        playlist["description"] = draw(text)
    playlist.update(
        collaborative=draw(st.sampled_from(["true", "false"])),
        pid=draw(ints),
        modified_at=draw(ints),
        num_tracks=len(tracks),
        num_albums=draw(ints),
        num_followers=draw(ints),
        tracks=tracks,
        num_edits=draw(ints),
        duration_ms=draw(ints),
        num_artists=draw(ints),
    )
    return playlist


def _doc(playlists: list[dict], slice_name: str, generated_on: str) -> dict:
    info = {"generated_on": generated_on, "slice": slice_name, "version": "v1"}
    return {"info": info, "playlists": playlists}


@settings(max_examples=150, deadline=None)
@given(st.lists(playlist_st(), max_size=3), text)
def test_slice_bytes_equal_stdlib_and_round_trip(playlists: list[dict], generated_on: str) -> None:
    data = dumps_slice(playlists, "0-999", generated_on=generated_on)
    expected = json.dumps(_doc(playlists, "0-999", generated_on), indent=4, ensure_ascii=True)
    assert data == expected.encode("ascii")
    assert json.loads(data) == _doc(playlists, "0-999", generated_on)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_encode_value_matches_stdlib_for_any_json(value: object) -> None:
    assert encode_value(value) == json.dumps(value, indent=4)


def test_keys_are_written_in_the_format_order() -> None:
    track = {"pos": 0, "artist_name": "Beyonc\u00e9", "track_uri": "u", "artist_uri": "a",
             "track_name": "t", "album_uri": "b", "duration_ms": 1, "album_name": "c"}  # fmt: skip
    playlist = {
        "name": "n", "collaborative": "false", "pid": 1, "modified_at": 0, "num_tracks": 1,
        "num_albums": 1, "num_followers": 1, "tracks": [track], "num_edits": 1,
        "duration_ms": 1, "num_artists": 1, "description": "d",
    }  # fmt: skip
    shuffled = dict(reversed(list(playlist.items())))
    shuffled["tracks"] = [dict(reversed(list(track.items())))]
    data = dumps_slice([shuffled], "0-999", generated_on="x")
    parsed = json.loads(data)["playlists"][0]
    assert list(parsed) == ["name", "description", *PLAYLIST_FIELDS[1:]]
    assert list(parsed["tracks"][0]) == list(TRACK_FIELDS)
    assert b"Beyonc\\u00e9" in data


def test_track_tail_is_the_text_after_pos() -> None:
    track = {"pos": 3, "artist_name": "\u00c9", "track_uri": "u", "artist_uri": "a",
             "track_name": "t\n", "album_uri": "b", "duration_ms": 7,
             "album_name": "c"}  # fmt: skip
    full = encode_value(track, 4)
    head = '{\n                    "pos": 3'
    assert full == head + track_tail(track)


def test_write_slice_is_atomic_and_gzip_readable(tmp_path: Path) -> None:
    playlist = {"name": "x", "collaborative": "false", "pid": 0, "tracks": []}
    path = write_slice(tmp_path / "mpd.slice.0-999.json", [playlist], "0-999", generated_on="g")
    assert json.loads(path.read_bytes())["playlists"] == [playlist]
    gz = write_slice(tmp_path / "mpd.slice.0-999.json", [playlist], "0-999", "g", gzip=True)
    assert gz.name == "mpd.slice.0-999.json.gz"
    assert gzip.decompress(gz.read_bytes()) == path.read_bytes()

    def broken():
        yield playlist
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_slice(tmp_path / "other.json", broken(), "0-999")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([gz.name, path.name])


def test_unsupported_values_are_refused() -> None:
    with pytest.raises(TypeError):
        encode_value({1: "a"})
    with pytest.raises(TypeError):
        encode_value(object())


@given(st.binary(max_size=200_000))
@settings(max_examples=40, deadline=None)
def test_gzip_output_reads_back_with_the_standard_library(data: bytes) -> None:
    """Whatever compressor write_bytes uses (ISA-L or zlib), plain gzip reads it back."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = write_bytes(Path(tmp) / "x.json", data, gzip=True)
        packed = path.read_bytes()
    assert path.name == "x.json.gz"
    assert packed[4:8] == b"\0\0\0\0"  # mtime 0: the same world gives the same bytes
    assert gzip.decompress(packed) == data
