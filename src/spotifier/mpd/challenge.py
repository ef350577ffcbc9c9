"""The challenge files exactly as published: `challenge_set.json` and the submission CSV.

Read and write a challenge set, write a submission, and verify a submission with every check of
the official verifier (plus duplicate pid lines). Works on URIs only; nothing here needs a store.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sub.csv"
    >>> write_submission(path, [(7, ["spotify:track:" + "a" * 22])], team="t", email="e@x.org")
    >>> path.read_text().splitlines()[0]
    'team_info,main,t,e@x.org'
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from spotifier.errors import InvalidInputError, NotFoundError
from spotifier.home import atomic_file
from spotifier.mpd.format import URI_RE

SUBMISSION_SIZE = 500
TRACKS = ("main", "creative")
ENTRY_FIELDS = ("name", "num_holdouts", "pid", "tracks", "num_samples", "num_tracks")


@dataclass(frozen=True)
class ChallengePlaylist:
    """One challenge entry: the seeds' URIs with their original positions, and the counts."""

    pid: int
    name: str | None
    num_samples: int
    num_holdouts: int
    num_tracks: int
    seed_uris: tuple[str, ...]
    positions: tuple[int, ...]


@dataclass(frozen=True)
class ChallengeSet:
    date: str
    version: str
    playlists: tuple[ChallengePlaylist, ...]

    def by_pid(self) -> dict[int, ChallengePlaylist]:
        return {p.pid: p for p in self.playlists}


# --------------------------------------------------------------------------- reading
def read_text(path: Path) -> bytes:
    """A file's bytes, gunzipped when it is gzip (by magic number, whatever its name)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InvalidInputError(f"{path}: is a folder; give the file itself")
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file")
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidInputError(f"{path}: cannot read ({exc})") from exc


def read_challenge_set(path: str | Path) -> ChallengeSet:
    """Parse and check an official `challenge_set.json` (or `.json.gz`)."""
    path = Path(path)
    try:
        doc = orjson.loads(read_text(path))
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("playlists"), list):
        raise InvalidInputError(f"{path}: not a challenge set (no 'playlists' list)")
    playlists = []
    seen: set[int] = set()
    for i, entry in enumerate(doc["playlists"]):
        playlist = _parse_entry(entry, f"{path}: playlist #{i}")
        if playlist.pid in seen:
            raise InvalidInputError(f"{path}: pid {playlist.pid} appears twice")
        seen.add(playlist.pid)
        playlists.append(playlist)
    return ChallengeSet(str(doc.get("date", "")), str(doc.get("version", "")), tuple(playlists))


def _parse_entry(entry: Any, where: str) -> ChallengePlaylist:
    if not isinstance(entry, dict):
        raise InvalidInputError(f"{where}: not an object")
    if isinstance(entry.get("pid"), int):
        where = f"{where} (pid {entry['pid']})"
    for key in ("pid", "num_samples", "num_holdouts", "num_tracks", "tracks"):
        if key not in entry:
            raise InvalidInputError(f"{where}: missing field '{key}'")
    for key in ("pid", "num_samples", "num_holdouts", "num_tracks"):
        if not isinstance(entry[key], int) or isinstance(entry[key], bool) or entry[key] < 0:
            raise InvalidInputError(f"{where}: '{key}' must be a non-negative integer")
    tracks = entry["tracks"]
    if not isinstance(tracks, list) or len(tracks) != entry["num_samples"]:
        raise InvalidInputError(f"{where}: 'tracks' must be a list of num_samples seeds")
    if entry["num_samples"] + entry["num_holdouts"] != entry["num_tracks"]:
        raise InvalidInputError(f"{where}: num_samples + num_holdouts != num_tracks")
    uris, positions = [], []
    for j, track in enumerate(tracks):
        uri = track.get("track_uri") if isinstance(track, dict) else None
        if isinstance(uri, str) and uri and not uri.startswith("spotify:"):
            raise InvalidInputError(
                f"{where}: seed #{j}'s track_uri '{uri[:80]}' is not a Spotify URI; challenge "
                "sets are MPD-specific (a split of own playlists is scored by spotifier evaluate)"
            )
        if not isinstance(uri, str) or not URI_RE["track"].match(uri):
            raise InvalidInputError(f"{where}: seed #{j} has no valid 'track_uri'")
        pos = track.get("pos", j)
        if not isinstance(pos, int) or not 0 <= pos < entry["num_tracks"]:
            raise InvalidInputError(f"{where}: seed #{j} has an invalid 'pos'")
        uris.append(uri)
        positions.append(pos)
    name = entry.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidInputError(f"{where}: 'name' must be a string")
    return ChallengePlaylist(
        pid=entry["pid"],
        name=name,
        num_samples=entry["num_samples"],
        num_holdouts=entry["num_holdouts"],
        num_tracks=entry["num_tracks"],
        seed_uris=tuple(uris),
        positions=tuple(positions),
    )


# --------------------------------------------------------------------------- writing
def write_challenge_set(path: Path, entries: Sequence[dict[str, Any]]) -> None:
    """Write `{"date", "version": "v1", "playlists"}` (the official keys only) atomically."""
    doc = {
        "date": datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f"),
        "version": "v1",
        "playlists": list(entries),
    }
    with atomic_file(Path(path)) as fh:
        fh.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))


def write_submission(
    path: str | Path,
    rows: Iterable[tuple[int, Sequence[str]]],
    team: str,
    email: str,
    track: str = "main",
    compress: bool = False,
) -> None:
    """Write the official CSV (`team_info,<track>,<team>,<email>`, then `pid,uri_1,…`)."""
    if track not in TRACKS:
        raise InvalidInputError(f"--track must be one of {', '.join(TRACKS)}, got '{track}'")
    for field, value in (("team", team), ("email", email)):
        if "," in value or "\n" in value or not value.strip():
            raise InvalidInputError(f"the {field} must be non-empty, without commas or newlines")
    lines = [f"team_info,{track},{team.strip()},{email.strip()}"]
    lines.extend(",".join([str(pid), *uris]) for pid, uris in rows)
    text = ("\n".join(lines) + "\n").encode()
    with atomic_file(Path(path)) as fh:
        fh.write(gzip.compress(text, mtime=0) if compress else text)


# --------------------------------------------------------------------------- submissions
@dataclass(frozen=True)
class SubmissionLine:
    line_no: int
    pid: str
    uris: tuple[str, ...]


def read_submission(path: str | Path) -> tuple[list[str] | None, list[SubmissionLine], list[str]]:
    """(team_info fields or None, playlist lines, problems found while parsing).

    Comment (`#`) and blank lines are skipped; the first other line must be `team_info`.
    """
    text = read_text(Path(path)).decode("utf-8", errors="replace")
    team_info: list[str] | None = None
    lines: list[SubmissionLine] = []
    problems: list[str] = []
    first = True
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(",")
        if first:
            first = False
            if fields[0].strip() == "team_info":
                team_info = fields
                continue
            problems.append(f"line {line_no}: the first line must be team_info,main,<team>,<email>")
        fields = [f.strip() for f in fields]
        lines.append(SubmissionLine(line_no, fields[0], tuple(fields[1:])))
    return team_info, lines, problems


def verify_submission(challenge: ChallengeSet, path: str | Path) -> list[str]:
    """Every check of the official verifier plus duplicate pid lines; [] means valid."""
    team_info, lines, problems = read_submission(path)
    if team_info is None and not problems:
        problems.append("no team_info line (team_info,main,<team>,<email>)")
    if team_info is not None:
        if len(team_info) != 4:
            problems.append("team_info must have 4 fields: team_info,main,<team>,<email>")
        if not any(len(team_info) > i and team_info[i] in TRACKS for i in (1, 2)):
            problems.append(
                "team_info: field 1 or 2 must be 'main' or 'creative' (no spaces around it)"
            )
    seeds = {p.pid: set(p.seed_uris) for p in challenge.playlists}
    found: dict[int, int] = {}
    for line in lines:
        where = f"line {line.line_no}"
        try:
            pid = int(line.pid)
        except ValueError:
            problems.append(f"{where}: bad pid '{line.pid}' (should be an integer)")
            continue
        if pid not in seeds:
            problems.append(f"{where}: pid {pid} is not in the challenge set")
            continue
        if pid in found:
            problems.append(f"{where}: pid {pid} appears again (first at line {found[pid]})")
            continue
        found[pid] = line.line_no
        if len(line.uris) != SUBMISSION_SIZE:
            problems.append(
                f"{where}: pid {pid} has {len(line.uris)} tracks, needs {SUBMISSION_SIZE}"
            )
        if len(set(line.uris)) != len(line.uris):
            problems.append(f"{where}: pid {pid} has duplicate tracks")
        bad = [u for u in line.uris if not URI_RE["track"].match(u)]
        if bad:
            problems.append(f"{where}: pid {pid} has a bad track uri '{bad[0]}'")
        seeded = [u for u in line.uris if u in seeds[pid]]
        if seeded:
            problems.append(f"{where}: pid {pid} recommends its seed track {seeded[0]}")
    missing = [pid for pid in seeds if pid not in found]
    if missing:
        shown = ", ".join(str(p) for p in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        problems.append(f"{len(missing)} challenge pid(s) missing: {shown}{more}")
    return problems
