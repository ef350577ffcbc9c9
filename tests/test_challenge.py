"""Challenge files: reading a hand-written challenge set, writing and verifying submissions."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from spotifier.data import TrainingData
from spotifier.errors import InvalidInputError, NotFoundError
from spotifier.evaluation import recommend_challenge, score_submission
from spotifier.evaluation.testing import make_uri, tiny_mpd
from spotifier.models.popularity import Popularity
from spotifier.mpd.challenge import read_challenge_set, verify_submission, write_submission

STORE_PIDS = range(1000, 1300)


@pytest.fixture(scope="module")
def world():
    inter, catalog = tiny_mpd(300, seed=5)
    model = Popularity().fit(TrainingData.from_catalog(inter, catalog))
    return inter, catalog, model


def seed(catalog, i, pos):
    return {
        "pos": pos,
        "artist_name": "A",
        "track_uri": str(catalog.track_uris[i]),
        "artist_uri": make_uri("artist", i),
        "track_name": "T",
        "album_uri": make_uri("album", i),
        "duration_ms": 1000,
        "album_name": "B",
    }


def hand_written(catalog):
    """Five playlists whose pids are outside the store, one per kind of query."""
    unknown = {**seed(catalog, 0, 1), "track_uri": make_uri("track", 9, salt=77)}
    playlists = [
        {"name": "chill", "num_holdouts": 20, "pid": 5_000_001, "tracks": [], "num_samples": 0,
         "num_tracks": 20},
        {"name": "rock", "num_holdouts": 30, "pid": 5_000_002,
         "tracks": [seed(catalog, 0, 0)], "num_samples": 1, "num_tracks": 31},
        {"num_holdouts": 50, "pid": 5_000_003,
         "tracks": [seed(catalog, i, i) for i in range(5)], "num_samples": 5, "num_tracks": 55},
        {"name": "mix", "num_holdouts": 120, "pid": 5_000_004,
         "tracks": [seed(catalog, 10 + i, 4 * i) for i in range(25)], "num_samples": 25,
         "num_tracks": 145},
        {"name": "new", "num_holdouts": 10, "pid": 5_000_005,
         "tracks": [seed(catalog, 3, 0), unknown], "num_samples": 2, "num_tracks": 12},
    ]  # fmt: skip
    return {"date": "2018-01-16 08:47:28.198015", "version": "v1", "playlists": playlists}


@pytest.fixture
def challenge_file(tmp_path, world):
    path = tmp_path / "challenge_set.json"
    path.write_text(json.dumps(hand_written(world[1]), indent=4))
    return path


@pytest.fixture
def submission(tmp_path, world, challenge_file):
    _, catalog, model = world
    rows, unknown = recommend_challenge(model, read_challenge_set(challenge_file), catalog)
    path = tmp_path / "submission.csv"
    write_submission(path, rows, team="team x", email="x@example.org")
    return path, rows, unknown


def test_recommendations_for_pids_outside_the_store(world, challenge_file, submission):
    _, catalog, _ = world
    challenge = read_challenge_set(challenge_file)
    assert [p.pid for p in challenge.playlists] == [5_000_001 + i for i in range(5)]
    assert all(p.pid not in STORE_PIDS for p in challenge.playlists)
    _, rows, unknown = submission
    assert unknown == [make_uri("track", 9, salt=77)]  # reported, not fatal
    for playlist, (pid, uris) in zip(challenge.playlists, rows, strict=True):
        assert pid == playlist.pid
        assert len(uris) == 500 == len(set(uris))
        assert not set(uris) & set(playlist.seed_uris)
    # The title-only playlist gets a real (popular) list, not padding.
    assert rows[0][1][0] == catalog.track_uris[Popularity().fit(
        TrainingData.from_catalog(world[0], catalog)).popularity_order[0]]  # fmt: skip


def test_submission_file_format(submission):
    path, rows, _ = submission
    lines = path.read_text().splitlines()
    assert lines[0] == "team_info,main,team x,x@example.org"
    assert len(lines) == 1 + len(rows)
    fields = lines[1].split(",")
    assert fields[0] == str(rows[0][0]) and len(fields) == 501
    assert all(f.startswith("spotify:track:") and len(f) == 36 for f in fields[1:])


def test_verify_accepts_a_valid_submission_plain_and_gzipped(tmp_path, challenge_file, submission):
    path, rows, _ = submission
    challenge = read_challenge_set(challenge_file)
    assert verify_submission(challenge, path) == []
    gz = tmp_path / "submission.csv.gz"
    write_submission(gz, rows, team="t", email="e@x.org", track="creative", compress=True)
    assert gzip.decompress(gz.read_bytes()).startswith(b"team_info,creative,t,e@x.org\n")
    assert verify_submission(challenge, gz) == []
    # Comments and blank lines are ignored, wherever they are.
    commented = tmp_path / "commented.csv"
    commented.write_text("# made by hand\n\n" + path.read_text().replace("\n", "\n\n# x\n", 1))
    assert verify_submission(challenge, commented) == []


def corrupt(path, tmp_path, edit):
    lines = path.read_text().splitlines()
    edit(lines)
    out = tmp_path / "bad.csv"
    out.write_text("\n".join(lines) + "\n")
    return out


def replace_field(lines, line, index, value):
    fields = lines[line].split(",")
    fields[index] = value
    lines[line] = ",".join(fields)


CASES = {
    "no team_info": (lambda ls: ls.pop(0), "first line must be team_info"),
    "team_info without track": (
        lambda ls: ls.__setitem__(0, "team_info,team x,x@example.org"),
        "'main' or 'creative'",
    ),
    "track with spaces": (
        lambda ls: ls.__setitem__(0, "team_info, main ,team x,x@example.org"),
        "'main' or 'creative'",
    ),
    "499 tracks": (lambda ls: ls.__setitem__(1, ls[1].rsplit(",", 1)[0]), "needs 500"),
    "duplicate track": (
        lambda ls: replace_field(ls, 1, 2, ls[1].split(",")[1]),
        "duplicate tracks",
    ),
    "bad uri": (lambda ls: replace_field(ls, 2, 3, "spotify:track:short"), "bad track uri"),
    "album uri": (
        lambda ls: replace_field(ls, 2, 3, make_uri("album", 1)),
        "bad track uri",
    ),
    "seed recommended": (
        lambda ls: replace_field(ls, 3, 7, make_uri("track", 0)),
        "recommends its seed track",
    ),
    "pid not in challenge": (lambda ls: replace_field(ls, 1, 0, "1000"), "not in the challenge"),
    "non-integer pid": (lambda ls: replace_field(ls, 1, 0, "abc"), "bad pid 'abc'"),
    "duplicate pid line": (lambda ls: ls.append(ls[2]), "appears again (first at line 3)"),
    "missing pid": (lambda ls: ls.pop(5), "1 challenge pid(s) missing: 5000005"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_verify_catches_each_rule(case, tmp_path, challenge_file, submission):
    edit, expected = CASES[case]
    bad = corrupt(submission[0], tmp_path, edit)
    problems = verify_submission(read_challenge_set(challenge_file), bad)
    assert any(expected in p for p in problems), problems


def test_verify_reports_one_line_per_problem(tmp_path, challenge_file, submission):
    def edit(lines):
        replace_field(lines, 1, 0, "abc")
        lines.append(lines[2])

    problems = verify_submission(
        read_challenge_set(challenge_file), corrupt(submission[0], tmp_path, edit)
    )
    # The bad pid line, the repeat, and the pid the bad line should have answered.
    assert len(problems) == 3


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["playlists"][1].pop("num_holdouts"),
            "playlist #1 (pid 5000002): missing field 'num_holdouts'",
        ),
        (lambda d: d["playlists"][1].update(num_samples=2), "num_samples seeds"),
        (lambda d: d["playlists"][2].update(num_tracks=99), "num_samples + num_holdouts"),
        (
            lambda d: d["playlists"][1]["tracks"][0].update(track_uri="x"),
            "'x' is not a Spotify URI",
        ),
        (lambda d: d["playlists"][1]["tracks"][0].update(track_uri=7), "valid 'track_uri'"),
        (lambda d: d["playlists"][4].update(pid=5_000_001), "pid 5000001 appears twice"),
        (lambda d: d.pop("playlists"), "not a challenge set"),
    ],
)
def test_challenge_set_errors_name_the_playlist(tmp_path, world, mutate, message):
    doc = hand_written(world[1])
    mutate(doc)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        read_challenge_set(path)


def test_missing_and_non_json_files(tmp_path):
    with pytest.raises(NotFoundError):
        read_challenge_set(tmp_path / "nope.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        read_challenge_set(tmp_path / "junk.json")


def test_write_submission_rejects_bad_team_info(tmp_path):
    with pytest.raises(InvalidInputError, match="--track"):
        write_submission(tmp_path / "s.csv", [], team="t", email="e", track="side")
    with pytest.raises(InvalidInputError, match="team"):
        write_submission(tmp_path / "s.csv", [], team="a,b", email="e")


def test_score_a_submission_per_category(challenge_file, submission):
    path, rows, _ = submission
    challenge = read_challenge_set(challenge_file)
    # Truth: for 5000001 the submission's own first track (a hit at rank 1) and one never
    # recommended; for 5000002 nothing it recommends; 5000003 is not in the submission at all.
    first = rows[0][1][0]
    never = make_uri("track", 1499)
    truth = {5_000_001: [first, never], 5_000_002: [never]}
    result = score_submission(path, challenge, truth)
    assert result["per_category"]["1"]["r_precision"] == 0.5
    assert result["per_category"]["1"]["clicks"] == 0.0
    assert result["per_category"]["2"]["clicks"] == 51.0
    assert result["overall"]["playlists"] == 2 and result["missing"] == 0
    # An artist credit: `never`'s artist is the artist of the second recommendation.
    second = rows[0][1][1]
    artist_of = {first: 1, never: 7, second: 7}
    credited = score_submission(path, challenge, {5_000_001: [first, never]}, artist_of)
    assert credited["overall"]["r_precision"] == pytest.approx((1 + 0.25) / 2)
    assert credited["overall"]["r_precision_track"] == 0.5
    missing = score_submission(path, challenge, {5_000_003: [never], 99: [never]})
    assert missing["missing"] == 1
    assert set(missing["per_category"]) == {"4", "other"}
