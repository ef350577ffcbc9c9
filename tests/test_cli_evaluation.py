"""`split`, `evaluate`, `challenge`, `verify`, `score` through the real CLI on a generated world."""

from __future__ import annotations

import gzip
import json
import sys

import pytest

from spotifier.cli import main

pytestmark = pytest.mark.slow


def run(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    """Run `spotifier ARGS` as the console script does: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["spotifier", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """500 generated playlists, ingested with the real `spotifier ingest`."""
    from spotifier.synth import generate

    root = tmp_path_factory.mktemp("world")
    generate(root / "gen", 500, 1)
    home = root / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            sys, "argv", ["spotifier", "-q", "--home", str(home), "ingest", str(root / "gen")]
        )
        try:
            main()
        except SystemExit as exc:
            assert not exc.code
    return root, home


def test_split_evaluate_challenge_verify_score(world, capsys, monkeypatch, tmp_path):
    _, home = world
    h = ["-q", "--home", str(home)]
    code, out, err = run(capsys, monkeypatch, *h, "split", "--playlists", "10000", "--json")
    assert code == 0, err
    meta = json.loads(out)
    assert meta["playlists"] == 50 and meta["protocol"] == "challenge"
    assert meta["categories"] == {str(n): 5 for n in range(1, 11)}
    assert "instead of 10000" in err

    code, out, err = run(capsys, monkeypatch, *h, "evaluate", "popularity", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["split"] == "default" and report["protocol"] == "challenge"
    assert list(report["models"]) == ["popularity", "oracle"]  # generated data: oracle row
    for name, result in report["models"].items():
        assert set(result) == {"overall", "per_category", "fit_seconds", "recommend_seconds"}
        assert set(result["overall"]) == {
            "r_precision",
            "r_precision_track",
            "ndcg",
            "clicks",
            "playlists",
        }
        assert list(result["per_category"]) == [str(n) for n in range(1, 11)], name
    pop, oracle = report["models"]["popularity"]["overall"], report["models"]["oracle"]["overall"]
    assert oracle["ndcg"] > pop["ndcg"] and oracle["clicks"] < pop["clicks"]
    assert (home / "results" / "default" / "popularity.json").exists()
    assert (home / "results" / "default" / "oracle.json").exists()

    # A submission for the split's own challenge set, from the model trained on the split.
    challenge = home / "splits" / "default" / "challenge_set.json"
    sub = tmp_path / "sub.csv.gz"
    code, out, err = run(
        capsys, monkeypatch, *h, "challenge", str(challenge), "--model", "popularity",
        "--out", str(sub), "--split", "default", "--gzip", "--team", "t", "--email", "e@x.org",
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = run(capsys, monkeypatch, "verify", str(challenge), str(sub))
    assert (code, out.strip()) == (0, "OK")
    code, out, err = run(capsys, monkeypatch, *h, "score", str(sub), "--split", "default", "--json")
    assert code == 0, err
    scored = json.loads(out)
    # Scoring the file gives what the harness measured on the same lists.
    for key in ("r_precision", "r_precision_track", "ndcg", "clicks"):
        assert scored["overall"][key] == pytest.approx(pop[key])
    assert scored["per_category"]["4"]["playlists"] == 5
    # The same with explicit files, and the human table.
    code, out, err = run(
        capsys, monkeypatch, *h, "score", str(sub),
        "--challenge", str(challenge), "--truth", str(challenge.with_name("truth.json")),
    )  # fmt: skip
    assert code == 0, err
    assert "overall" in out and "R-prec" in out
    # Without a store there is no artist map: track-only R-precision, with a notice.
    code, out, err = run(
        capsys, monkeypatch, "--home", str(tmp_path / "empty"), "score", str(sub),
        "--challenge", str(challenge), "--truth", str(challenge.with_name("truth.json")), "--json",
    )  # fmt: skip
    assert code == 0 and "artist credit off" in err
    bare = json.loads(out)["overall"]
    assert (
        bare["r_precision"] == bare["r_precision_track"] == pytest.approx(pop["r_precision_track"])
    )

    # A broken submission: one line per problem, exit 1.
    bad = tmp_path / "bad.csv"
    text = gzip.decompress(sub.read_bytes()).decode().splitlines()
    bad.write_text("\n".join([text[0], *text[2:], text[3]]) + "\n")
    code, out, _ = run(capsys, monkeypatch, "verify", str(challenge), str(bad))
    assert code == 1
    problems = out.strip().splitlines()
    assert len(problems) == 2
    assert any("appears again" in p for p in problems)
    assert any("missing" in p for p in problems)


def test_hide_first_through_the_cli(world, capsys, monkeypatch):
    _, home = world
    h = ["-q", "--home", str(home)]
    code, out, err = run(
        capsys, monkeypatch, *h, "evaluate", "popularity", "--protocol", "hide-first", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert (report["split"], report["protocol"]) == ("hide-first", "hide-first")
    overall = report["models"]["popularity"]["overall"]
    assert 0.0 <= overall["hit_at_100"] <= 1.0
    assert overall["playlists"] == 50
    code, out, err = run(
        capsys, monkeypatch, *h, "evaluate", "popularity", "--protocol", "hide-first"
    )
    assert code == 0, err
    assert "hit@100" in out and "popularity" in out


def test_errors_are_one_line(world, capsys, monkeypatch):
    _, home = world
    h = ["-q", "--home", str(home)]
    code, _, err = run(capsys, monkeypatch, *h, "evaluate", "no-such-model")
    assert code == 3 and "unknown model 'no-such-model'" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, monkeypatch, *h, "split", "--name", "x", "--playlists", "15")
    assert code == 2 and "multiple of 10" in err
    code, _, err = run(capsys, monkeypatch, *h, "score", "nothing.csv")
    assert code == 2 and "--split" in err
    code, _, err = run(capsys, monkeypatch, "verify", "missing.json", "nothing.csv")
    assert code == 3 and "missing.json" in err


@pytest.mark.parametrize("command", ["split", "evaluate", "challenge", "verify", "score"])
def test_every_command_has_help(command, capsys, monkeypatch):
    code, out, _ = run(capsys, monkeypatch, command, "--help")
    assert code == 0 and "Usage" in out and len(out) > 200


def test_split_names_follow_the_protocol(world, capsys, monkeypatch):
    """A hide-first split built without --name never replaces the challenge split."""
    _, home = world
    h = ["-q", "--home", str(home)]
    code, out, err = run(capsys, monkeypatch, *h, "split", "--playlists", "100", "--json")
    assert code == 0, err
    challenge_meta = (home / "splits" / "default" / "meta.json").read_text()
    code, out, err = run(
        capsys, monkeypatch, *h, "split", "--protocol", "hide-first", "--playlists", "200"
    )
    assert code == 0, err
    assert "split 'hide-first' (hide-first)" in out
    assert (home / "splits" / "default" / "meta.json").read_text() == challenge_meta
    assert json.loads((home / "splits" / "hide-first" / "meta.json").read_text())["protocol"] == (
        "hide-first"
    )
