"""Reading slices: finding files in every accepted layout, and one clear error per bad file."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "data"))
from mpd_fixtures import playlist, write_slice

from spotifier.errors import InvalidInputError, NotFoundError
from spotifier.mpd import iter_slice_files, read_slice
from spotifier.mpd.reader import _INFLATE_ERRORS, gunzip


def test_slice_files_sorted_by_first_pid_not_by_name(tmp_path: Path) -> None:
    for first in (10000, 2000, 0):
        write_slice(tmp_path / "data", [playlist(first, range(5))], first=first)
    (tmp_path / "data" / "notes.json").write_text("{}")  # not a slice name: ignored
    names = [p.name for p in iter_slice_files(tmp_path / "data")]
    assert names == [
        "mpd.slice.0-999.json",
        "mpd.slice.2000-2999.json",
        "mpd.slice.10000-10999.json",
    ]
    # the folder holding data/ is accepted too, and one file on its own
    assert iter_slice_files(tmp_path) == iter_slice_files(tmp_path / "data")
    single = tmp_path / "data" / "notes.json"
    assert iter_slice_files(single) == [single]


def test_gzipped_and_plain_slices_read_the_same(tmp_path: Path) -> None:
    pls = [playlist(0, range(5), name="Beyoncé ♥"), playlist(1, range(3, 9))]
    plain = write_slice(tmp_path / "a", pls)
    packed = write_slice(tmp_path / "b", pls, gz=True)
    assert packed.name.endswith(".json.gz")
    assert read_slice(plain) == read_slice(packed)
    assert read_slice(plain)["playlists"][0]["name"] == "Beyoncé ♥"
    assert [p.name for p in iter_slice_files(tmp_path / "b")] == [packed.name]


def test_missing_or_empty_paths_are_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file"):
        iter_slice_files(tmp_path / "nope")
    with pytest.raises(NotFoundError, match=r"no mpd\.slice"):
        iter_slice_files(tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("mpd.slice.0-999.json", b'{"info": {}, "playlists": [{"pid": 0', "not valid JSON"),
        ("mpd.slice.0-999.json", b"\x00\x01garbage", "not valid JSON"),
        ("mpd.slice.0-999.json", b"[1, 2, 3]", "not an MPD slice"),
        ("mpd.slice.0-999.json", b'{"playlists": 7}', "not an MPD slice"),
        ("mpd.slice.0-999.json.gz", gzip.compress(b'{"playlists": []}')[:-6], "cannot read"),
        ("mpd.slice.0-999.json.gz", b"not gzip at all", "cannot read"),
    ],
)
def test_bad_files_give_one_error_naming_the_file(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=message) as info:
        read_slice(path)
    assert str(path) in str(info.value)


@settings(max_examples=60, deadline=None)
@given(
    members=st.lists(st.binary(max_size=3000), min_size=1, max_size=3),
    level=st.integers(0, 9),
)
def test_gunzip_reads_what_gzip_writes_and_refuses_a_cut(members: list[bytes], level: int) -> None:
    packed = [gzip.compress(m, compresslevel=level) for m in members]
    raw = b"".join(packed)
    assert gunzip(raw) == b"".join(members)
    last = len(raw) - len(packed[-1])
    for cut in (len(raw) - 1, last + len(packed[-1]) // 2, 11):  # inside a member: an error
        with pytest.raises((EOFError, *_INFLATE_ERRORS)):
            gunzip(raw[:cut])
