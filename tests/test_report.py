"""The HTML report: every section present, images embedded, missing inputs said, browser render."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spotifier.cli import app
from spotifier.home import Home
from spotifier.report import SECTIONS, build

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """300 generated playlists ingested, a split, popularity evaluated, a fake tune sweep."""
    from spotifier.store import ingest
    from spotifier.synth import generate

    root = tmp_path_factory.mktemp("report")
    generate(root / "gen", 300, 4)
    home = Home(root / "home")
    ingest(home, root / "gen" / "data")
    return home


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', html)]


def test_report_without_results_says_what_is_missing(world, tmp_path):
    path = build(world, tmp_path / "bare")
    html = path.read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in html, section
    assert "No evaluation results" in html
    assert "No sweeps" in html
    assert "No followers study" in html
    images = _images(html)
    assert len(images) >= 8
    assert all(png.startswith(b"\x89PNG") for png in images)
    assert (tmp_path / "bare" / "img" / "long_tail.png").exists()
    assert "playlists</td><td>300</td>" in html


@pytest.mark.slow
def test_report_with_results_and_browser_screenshot(world, tmp_path):
    runner = CliRunner()
    h = ["-q", "--home", str(world.root)]
    for args in (
        ["split", "--playlists", "50"],
        ["evaluate", "popularity", "--split", "default"],
        ["followers", "--folds", "0", "--seed-sample", "200"],
    ):
        res = runner.invoke(app, [*h, *args])
        assert res.exit_code == 0, (args, res.output)
    tune = world.results_dir / "tune"
    tune.mkdir(parents=True, exist_ok=True)
    rows = [
        {"alpha": a, "k": k, "r_precision": 0.1 * a + 0.01 * k, "ndcg": 0.2, "clicks": 3.0}
        for a in (0.5, 1.0)
        for k in (10, 100)
    ]
    sweep = {"grid": {"alpha": [0.5, 1.0], "k": [10, 100]}, "rows": rows, "best": rows[-1]}
    (tune / "fake.json").write_text(json.dumps(sweep))
    out = tmp_path / "full"
    res = runner.invoke(app, [*h, "report", "--out", str(out)])
    assert res.exit_code == 0, res.output
    html = (out / "index.html").read_text()
    for missing in ("No evaluation results", "No sweeps", "No followers study", "No examples"):
        assert missing not in html, missing
    for name in (
        "results_default_r_precision",
        "results_default_ndcg",
        "results_default_clicks",
        "tune_fake_alpha",
        "tune_fake_k",
        "followers_scores",
        "followers_residuals",
    ):
        assert (out / "img" / f"{name}.png").exists(), name
        assert f'alt="{name}"' in html
    assert "gbm-log" in html and "linear-onehot-artist" in html
    assert html.count('class="example"') >= 1
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("Debian's /usr/bin/chromium is not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,3000",
            f"--screenshot={shot}",
            (out / "index.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert shot.exists() and shot.read_bytes().startswith(b"\x89PNG")
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one


def test_examples_come_from_different_categories():
    from types import SimpleNamespace

    import numpy as np

    from spotifier.report.inputs import pick_cases

    def case(category, seeds, name):
        query = SimpleNamespace(seeds=np.arange(seeds), name=name)
        return SimpleNamespace(category=category, query=query)

    cases = [case("1", 0, "a"), case("2", 1, "b"), case("2", 1, "c"), case("4", 5, None)]
    cases += [case("7", 25, "d"), case("3", 5, "e")]
    picked = pick_cases(cases)
    assert [c.category for c in picked] == ["3", "7", "2"]
    assert all(len(c.query.seeds) and c.query.name for c in picked)
