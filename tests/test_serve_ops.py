"""The server as an operator runs it: `spotifier serve` in a subprocess on 127.0.0.1 while models
are retrained (hot reload, SIGHUP), scraped (/metrics with 1 and 2 workers) and stopped (SIGTERM
drains). Every loop is bounded; nothing asserts a duration."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))
from mpd_fixtures import playlist, uri, write_slice

from spotifier import store
from spotifier.home import Home
from spotifier.models import persist
from spotifier.serve import Service, create_app
from spotifier.serve.testing import ServerThread, build_home, metric, serve_process

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    return build_home(tmp_path_factory.mktemp("serve-ops"), playlists=300, models=("item-knn",))


@contextlib.contextmanager
def serving(home: Home, tmp: Path, *args: str, env: dict | None = None) -> Iterator[tuple]:
    """`spotifier serve --model item-knn ARGS` on a free port: (process, url, its output file)."""
    log = tmp / f"serve-{len(list(tmp.glob('serve-*.log')))}.log"
    with serve_process(home, ["--model", "item-knn", *args], log, env) as (proc, url):
        yield proc, url, log


def version(url: str) -> str:
    return str(httpx.get(f"{url}/v1/models", timeout=30).json()["models"][0]["version"])


def retrain(home: Home) -> None:
    """`spotifier train item-knn` in the same home (what an operator runs overnight)."""
    before = persist.read_meta(home, "item-knn")["trained_at"]
    command = [sys.executable, "-m", "spotifier", "--home", str(home.root), "--quiet"]
    for _ in range(5):  # a version is its training second: make sure this one is another
        subprocess.run([*command, "train", "item-knn"], check=True, timeout=300)
        if persist.read_meta(home, "item-knn")["trained_at"] != before:
            return
        time.sleep(0.5)
    pytest.fail("the retrained model kept its version")


# ---------------------------------------------------------------------- hot reload
def test_retraining_while_serving_swaps_versions_without_a_failed_request(home, tmp_path):
    seeds = [f"spotify:track:{i}" for i in range(3)]
    with serving(home, tmp_path, "--reload-every", "0.2") as (_, url, log):
        old = version(url)
        answers: list[tuple[int, str]] = []
        stop = threading.Event()

        def client() -> None:
            with httpx.Client(base_url=url, timeout=30) as http:
                for _ in range(20_000):  # bounded; stopped once the new version is seen
                    if stop.is_set():
                        return
                    response = http.post("/v1/continuations", json={"tracks": seeds, "k": 50})
                    body = response.json() if response.status_code == 200 else {}
                    answers.append((response.status_code, body.get("model_version", "")))

        thread = threading.Thread(target=client)
        thread.start()
        try:
            retrain(home)
            new = persist.read_meta(home, "item-knn")["trained_at"]
            for _ in range(600):
                if answers and answers[-1][1].startswith(new):
                    break
                time.sleep(0.1)
            seen = len(answers)
            for _ in range(600):  # a few more answers after the swap
                if len(answers) >= seen + 20:
                    break
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join(timeout=60)
        assert [a for a in answers if a[0] != 200] == []
        versions = [v for _, v in answers]
        assert versions[0] == old and versions[-1].startswith(new) and old != versions[-1]
        first_new = next(i for i, v in enumerate(versions) if v != old)
        assert set(versions[first_new:]) == {versions[-1]}  # never back to the old one
        assert version(url) == versions[-1]
        metrics = httpx.get(f"{url}/metrics").text
        assert metric(metrics, "spotifier_model_info", model="item-knn", version=old) == 0
        assert metric(metrics, "spotifier_model_info", model="item-knn", version=versions[-1]) == 1
    assert "reloaded" in log.read_text()


def _break(home: Home) -> None:
    """A 'retrained' item-knn whose arrays are damaged: a new meta.json over garbage arrays."""
    folder = home.model_dir("item-knn")
    (folder / "arrays.npz").write_bytes(b"not a zip file")
    meta = json.loads((folder / "meta.json").read_text())
    meta["trained_at"] = "2099-01-01T00:00:00+00:00"
    (folder / "meta.json").write_text(json.dumps(meta))


def test_a_broken_new_version_is_logged_and_the_old_one_keeps_serving(tmp_path, caplog):
    home = build_home(tmp_path, playlists=200, models=("item-knn",))
    service = Service.from_home(home, ["item-knn"])
    app = create_app(service)  # no polling: each look is `watcher.check()`, deterministic
    watcher = app.state.watcher
    old = service.models["item-knn"].version
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        before = http.post("/v1/continuations", json={"k": 5}).json()
        _break(home)
        assert watcher.check() == []
        assert "failed to load" in caplog.text and old in caplog.text
        after = http.post("/v1/continuations", json={"k": 5})
        assert after.status_code == 200 and after.json() == before
        assert watcher.check() == []  # not retried until it changes again
        assert http.get("/readyz").status_code == 200
        text = http.get("/metrics").text
        assert metric(text, "spotifier_model_reload_failures_total", model="item-knn") == 1
        persist.train(home, "item-knn")  # a good retrain replaces it
        assert watcher.check() == ["item-knn"]
        assert http.post("/v1/continuations", json={"k": 5}).json()["model_version"] != old


def test_a_model_trained_on_a_bigger_store_is_refused_by_reload(tmp_path, caplog):
    home = build_home(tmp_path, playlists=200, models=("popularity",))
    service = Service.from_home(home, ["popularity"])
    app = create_app(service)
    served = service.models["popularity"]
    served.chain.primary.n_tracks = service.catalog.n_tracks + 1  # as if the store had grown
    with pytest.raises(Exception, match="knows"):
        service.swap(served)
    served.chain.primary.n_tracks = service.catalog.n_tracks
    assert app.state.watcher.check() == []  # nothing changed on disk


def test_a_reload_refreshes_the_search_order_and_the_catalogue(tmp_path, caplog):
    """Ingest playlists that make a rare track the most played (and bring a new track), retrain:
    once the watcher swaps the model in, search ranks by the new counts and knows the new track,
    and no request during the swap fails."""
    caplog.set_level(logging.INFO, logger="spotifier.serve")
    home = Home(tmp_path / "home").ensure()
    # Track 1 is in all 30 playlists, track 9 in one; 40 tracks in all.
    first = [
        playlist(i, [1, 2 + i % 3, 5 + i % 3, 8 if i % 2 else 0, 10 + i] + [9] * (i == 0))
        for i in range(30)
    ]
    write_slice(tmp_path / "first", first)
    store.ingest(home, tmp_path / "first", strict=True)
    for name in ("item-knn", "title"):
        persist.train(home, name)
    service = Service.from_home(home, ["item-knn"])
    app = create_app(service)  # no polling: each look is `watcher.check()`
    watcher = app.state.watcher

    def top(http: httpx.Client, query: str) -> list[str]:
        answer = http.get("/v1/tracks/search", params={"q": query, "limit": 3})
        assert answer.status_code == 200, answer.text
        return [item["name"] for item in answer.json()["items"]]

    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        assert top(http, "track")[0] == "Track 1" and top(http, "track 42") == []
        tracks = service.tracks
        persist.train(home, "item-knn")  # the same data: same counts, nothing rebuilt
        assert watcher.check() == ["item-knn"] and service.tracks is tracks

        # 40 more playlists with track 9 (now the most played) and 121 tracks new to the store,
        # track 42 among them.
        more = [
            playlist(1000 + i, [9, 3 + i % 4, 50 + i, 100 + i, 140 + i] + [42] * (i < 10))
            for i in range(40)
        ]
        write_slice(tmp_path / "more", more, first=1000)
        store.ingest(home, tmp_path / "more", strict=True)
        persist.train(home, "item-knn")
        assert top(http, "track")[0] == "Track 1"  # not yet swapped in

        failures: list[str] = []
        stop = threading.Event()

        def client() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as own:
                for _ in range(5_000):  # bounded; stopped once the swap is done
                    if stop.is_set():
                        return
                    for response in (
                        own.get("/v1/tracks/search", params={"q": "tr"}),
                        own.post("/v1/continuations", json={"tracks": [uri("track", 9)], "k": 5}),
                    ):
                        if response.status_code != 200:
                            failures.append(response.text)

        thread = threading.Thread(target=client)
        thread.start()
        try:
            assert watcher.check() == ["item-knn"]
        finally:
            stop.set()
            thread.join(timeout=60)
        assert failures == []
        assert top(http, "track")[:2] == ["Track 9", "Track 1"]
        assert top(http, "track 42") == ["Track 42"]
        assert http.get("/healthz").json()["tracks"] == service.catalog.n_tracks == 161
        answer = http.post("/v1/continuations", json={"tracks": [uri("track", 42)], "k": 3})
        assert answer.json()["unknown_tracks"] == [] and len(answer.json()["items"]) == 3
    assert "catalogue re-read: 161 tracks; search order refreshed" in caplog.text


# ---------------------------------------------------------------------- SIGHUP, workers, metrics
def test_sighup_reloads_every_worker_and_metrics_sum_over_them(home, tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    args = ("--workers", "2", "--reload-every", "0")
    with serving(home, tmp_path, *args, env={"TMPDIR": str(scratch)}) as (proc, url, _):
        assert list(scratch.glob("spotifier-metrics-*"))  # the run's metrics folder
        n = 40
        for _ in range(n):  # a new connection each: the kernel spreads them over both workers
            assert httpx.post(f"{url}/v1/continuations", json={"k": 3}).status_code == 200
        for _ in range(6):  # whichever worker answers the scrape sees all of them
            text = httpx.get(f"{url}/metrics").text
            labels = {"route": "/v1/continuations", "model": "item-knn", "status": "200"}
            assert metric(text, "spotifier_requests_total", **labels) == n
        old = version(url)
        retrain(home)
        new = persist.read_meta(home, "item-knn")["trained_at"]
        for _ in range(20):  # no polling: still the old version everywhere
            answer = httpx.post(f"{url}/v1/continuations", json={"k": 1}).json()
            assert answer["model_version"] == old
        os.kill(proc.pid, signal.SIGHUP)
        streak = 0
        for _ in range(900):
            got = httpx.post(f"{url}/v1/continuations", json={"k": 1}).json()["model_version"]
            streak = streak + 1 if got.startswith(new) else 0
            if streak == 20:
                break
            time.sleep(0.02)
        assert streak == 20 and old != version(url)
    assert not list(scratch.glob("spotifier-metrics-*"))  # removed at exit


# ---------------------------------------------------------------------- SIGTERM drains
def test_sigterm_lets_the_request_in_flight_finish(home, tmp_path):
    body = json.dumps({"tracks": ["spotify:track:1"], "k": 5}).encode()
    with serving(home, tmp_path) as (proc, url, log):
        port = int(url.rsplit(":", 1)[1])
        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        sock.sendall(
            b"POST /v1/continuations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body[:5]
        )
        for _ in range(600):  # until the server holds our half-sent request (and the scrape)
            text = httpx.get(f"{url}/metrics").text
            if metric(text, "spotifier_requests_in_progress") >= 2:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the half-sent request never reached the application")
        proc.send_signal(signal.SIGTERM)
        sock.sendall(body[5:])
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        sock.close()
        head, _, payload = b"".join(chunks).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert len(json.loads(payload)["items"]) == 5
        assert proc.wait(timeout=90) in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    drained = [x for x in lines if x["route"] == "/v1/continuations"]
    assert drained and drained[-1]["status"] == 200 and drained[-1]["seeds"] == 1


def test_readyz_is_503_until_every_served_model_is_loaded(tmp_path):
    home = build_home(tmp_path, playlists=200, models=("popularity",))
    service = Service.from_home(home, ["popularity"])
    service.expected.append("als")  # asked for, not (yet) loaded
    with ServerThread(create_app(service)) as server:
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["missing"] == ["als"] and ready.json()["status"] == "loading"
        assert httpx.get(f"{server.url}/healthz").status_code == 200
