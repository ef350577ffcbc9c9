"""API keys, the rate limit, /metrics, the access log and the server's timeouts, against real
uvicorn servers on 127.0.0.1 (in-process threads; `test_serve_ops.py` runs the CLI)."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotifier.errors import InvalidInputError
from spotifier.serve import create_app
from spotifier.serve.access import ApiKeys, RateLimiter, parse_keys, parse_rate
from spotifier.serve.testing import ServerThread, metric, world_service
from spotifier.serve.timeouts import Timeouts

KEY, OTHER = "k-7f3a9c1e0d", "k-second-22"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    return world_service(tmp_path_factory.mktemp("serve-access"), ("item-knn",))


# ---------------------------------------------------------------------- API keys
def test_keys_are_needed_on_v1_only_and_the_key_file_is_reloaded(tmp_path, service, caplog):
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# the app's key\n{KEY}\n\n")
    app = create_app(service, api_keys=keys, watch=0.1)
    caplog.set_level(logging.INFO, logger="spotifier.access")
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        for route in ("/healthz", "/readyz", "/", "/static/app.js", "/metrics", "/docs"):
            assert http.get(route).status_code == 200, route
        assert http.get("/healthz").json()["auth"] is True
        ask = {"k": 5}
        missing = http.post("/v1/continuations", json=ask)
        assert missing.status_code == 401 and missing.json()["error"] == "unauthorized"
        assert missing.headers["www-authenticate"].startswith("Bearer")
        for header in (f"Bearer {OTHER}", f"Basic {KEY}", "Bearer", KEY, f"Bearer {KEY}x"):
            answer = http.post("/v1/continuations", json=ask, headers={"authorization": header})
            assert answer.status_code == 401, header
            assert KEY not in answer.text
        good = {"authorization": f"Bearer {KEY}"}
        assert http.post("/v1/continuations", json=ask, headers=good).status_code == 200
        assert http.get("/v1/models", headers=good).status_code == 200
        assert http.get("/v1/models").status_code == 401
        assert http.get("/v1/tracks/search?q=a").status_code == 401
        # A new key file: the new key works and the old one stops, within a bounded wait.
        keys.write_text(f"{OTHER}\n")
        other = {"authorization": f"Bearer {OTHER}"}
        for _ in range(300):
            if http.get("/v1/models", headers=other).status_code == 200:
                break
            time.sleep(0.05)
        assert http.get("/v1/models", headers=other).status_code == 200
        assert http.get("/v1/models", headers=good).status_code == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "spotifier.access"]
    assert lines and all(KEY not in line and OTHER not in line for line in lines)


def test_key_sources_and_bad_key_files(tmp_path, monkeypatch):
    assert parse_keys("a\n#b\n c ,d\n", "f") == ["a", "c", "d"]
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(InvalidInputError, match="no API key"):
        ApiKeys.from_file(empty)
    with pytest.raises(InvalidInputError, match="cannot read"):
        ApiKeys.from_file(tmp_path / "absent.txt")
    monkeypatch.setenv("SPOTIFIER_API_KEYS", f"{KEY}, {OTHER}")
    from_env = ApiKeys.from_env()
    assert from_env is not None and len(from_env) == 2
    assert from_env.check(OTHER) and from_env.check(KEY) != from_env.check(OTHER)
    assert from_env.check("k-7f3a9c1e0") is None and from_env.check("") is None
    monkeypatch.setenv("SPOTIFIER_API_KEYS", " ")
    assert ApiKeys.from_env() is None


# ---------------------------------------------------------------------- rate limit
def test_rate_limit_answers_429_with_retry_after_per_key(tmp_path, service):
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{KEY}\n{OTHER}\n")
    app = create_app(service, api_keys=keys, rate_limit=0.01)  # one request per 100 s
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        first = {"authorization": f"Bearer {KEY}"}
        assert http.get("/v1/models", headers=first).status_code == 200
        limited = http.get("/v1/models", headers=first)
        assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 100
        second = {"authorization": f"Bearer {OTHER}"}  # a bucket per key
        assert http.get("/v1/models", headers=second).status_code == 200
        assert http.get("/healthz").status_code == 200  # open routes are not limited
        assert http.get("/v1/models").status_code == 401  # no key: the address's bucket
        guess = http.get("/v1/models", headers={"authorization": "Bearer guess"})
        assert guess.status_code == 429  # guessing keys is limited too
        assert http.get("/v1/models", headers=second).status_code == 429  # its key's bucket


def test_rate_limit_without_keys_is_per_address(service):
    app = create_app(service, rate_limit=0.01)
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/v1/continuations", json={"k": 3}).status_code == 200
        limited = http.post("/v1/continuations", json={"k": 3})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_parse_rate():
    assert parse_rate("20/s") == 20 and parse_rate(" 2.5 / s ") == 2.5
    for bad in ("0/s", "-1/s", "fast", "10/m", ""):
        with pytest.raises(InvalidInputError, match="--rate-limit"):
            parse_rate(bad)


@settings(max_examples=80, deadline=None)
@given(
    rate=st.floats(0.1, 50),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=60),
)
def test_the_bucket_never_allows_more_than_burst_plus_rate_times_time(rate, gaps):
    now = [0.0]
    limiter = RateLimiter(rate, clock=lambda: now[0])
    allowed = 0
    for gap in gaps:
        now[0] += gap
        wait = limiter.allow("c")
        allowed += wait == 0
        assert wait >= 0
        if wait > 0:  # waiting that long is enough
            later = now[0] + wait
            probe = RateLimiter(rate, clock=lambda: later)  # noqa: B023 - called right here
            probe._buckets = dict(limiter._buckets)
            assert probe.allow("c") == 0
    assert allowed <= limiter.burst + rate * now[0] + 1e-6


# ---------------------------------------------------------------------- metrics and the log
def test_metrics_count_requests_routes_and_models(service, caplog):
    app = create_app(service)
    caplog.set_level(logging.INFO, logger="spotifier.access")
    seeds = [str(u) for u in service.catalog.track_uris[:3]]
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        for _ in range(5):
            assert http.post("/v1/continuations", json={"tracks": seeds, "k": 7}).status_code == 200
        assert http.post("/v1/continuations", json={"name": "rock", "k": 7}).status_code == 200
        assert http.post("/v1/continuations?explain=true", json={"k": 7}).status_code == 200
        assert http.post("/v1/continuations", json={"k": 0}).status_code == 422
        assert http.get("/no/such/path").status_code == 404
        text = http.get("/metrics").text
    ok = {"route": "/v1/continuations", "model": "item-knn", "status": "200"}
    assert metric(text, "spotifier_requests_total", **ok) == 7
    assert metric(text, "spotifier_requests_total", route="/v1/continuations", status="422") == 1
    assert metric(text, "spotifier_requests_total", route="other", status="404") == 1
    assert metric(text, "spotifier_request_duration_seconds_count", route="/v1/continuations") == 8
    assert metric(text, "spotifier_batch_size_count") >= 1
    assert metric(text, "spotifier_batch_size_sum") == 7
    for route, count in (("model", 5), ("title", 1), ("popularity", 1)):
        assert metric(text, "spotifier_fallback_routes_total", model="item-knn", route=route) == (
            count
        )
    version = service.models["item-knn"].version
    assert metric(text, "spotifier_model_info", model="item-knn", version=version) == 1
    assert metric(text, "spotifier_model_loaded_timestamp_seconds", model="item-knn") > 0
    assert metric(text, "spotifier_model_load_seconds", model="item-knn") > 0
    lines = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "spotifier.access"]
    posted = [line for line in lines if line["route"] == "/v1/continuations"]
    assert len(posted) == 8
    first = posted[0]
    assert set(first) >= {"time", "route", "model", "status", "ms", "seeds", "k"}
    assert (first["model"], first["status"], first["seeds"], first["k"]) == ("item-knn", 200, 3, 7)
    assert first["answered_by"] == "model" and first["ms"] >= 0
    assert not any(seeds[0] in r.getMessage() for r in caplog.records)  # no bodies


# ---------------------------------------------------------------------- timeouts (issue 16)
def _drip(url_port: int, data: bytes, pause: float, limit: int) -> tuple[bytes, int]:
    """Send `data` one byte every `pause` s until the server closes; (what it said, bytes sent)."""
    with socket.create_connection(("127.0.0.1", url_port), timeout=30) as sock:
        sock.settimeout(pause)
        sent = 0
        for byte in data[:limit]:
            try:
                sock.sendall(bytes([byte]))
                sent += 1
                answer = sock.recv(4096)
                return answer, sent  # the server spoke (or closed: b"")
            except TimeoutError:
                continue
            except OSError:
                return b"", sent
        return b"<still open>", sent


def test_a_client_sending_one_header_byte_at_a_time_is_cut_off(service):
    app = create_app(service)
    slow = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: " + b"a" * 200 + b"\r\n\r\n"
    with ServerThread(app, timeouts=Timeouts(head=1.0)) as server:
        answer, sent = _drip(server.port, slow, pause=0.1, limit=len(slow))
        assert answer.startswith(b"HTTP/1.1 408") or answer == b"", answer
        assert sent < len(slow)  # cut off before the headers were complete
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as idle:
            assert idle.recv(4096).startswith(b"HTTP/1.1 408")  # silent: closed too
        # A kept-alive connection gets the same bound for its next request's headers.
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            sock.sendall(b"GET /heal")
            assert sock.recv(4096).startswith(b"HTTP/1.1 408")
        assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_body_sent_too_slowly_gets_408(service):
    app = create_app(service, body_timeout=1.0)
    with (
        ServerThread(app) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock,
    ):
        sock.sendall(
            b"POST /v1/continuations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: 100\r\n\r\n{"
        )
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408") and b"not received" in answer


# ---------------------------------------------------------------------- every route, any input
BODIES = [b"", b"\xff\xfe", b"{", b'{"k": 1e999}', b"[" * 5000, b'{"tracks": [null]}', b"0" * 5000]


def test_malformed_input_on_every_route_is_never_a_5xx(service):
    app = create_app(service)
    paths = sorted({getattr(r, "path", "/") for r in app.routes} | {"/static/app.js", "/x"})
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        for path in paths:
            for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"):
                for body in BODIES:
                    for query in ("", "?q=%ff%00&limit=-1&k=x", "?limit=99999999999999999999"):
                        response = http.request(
                            method,
                            path + query,
                            content=body,
                            headers={"content-type": "application/json"},
                        )
                        assert response.status_code < 500, (method, path, query, body[:20])


def test_the_key_file_check_happens_before_loading(tmp_path):
    """`serve --api-keys` with a missing file fails at once with one line (no model loaded)."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "spotifier", "--home", str(tmp_path / "h"), "serve"]
    command += ["--api-keys", str(tmp_path / "absent.txt")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "absent.txt" in result.stderr and "Traceback" not in result.stderr
    assert not Path(tmp_path / "h" / "models").exists()


# ---------------------------------------------------------------------- the page with a key
CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium")
def test_the_page_asks_for_the_key_once_per_browser_session(tmp_path, service):
    sync_api = pytest.importorskip("playwright.sync_api")
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{KEY}\n")
    asked: list[str] = []

    def answer(dialog) -> None:
        asked.append(dialog.message)
        dialog.accept("wrong-key" if len(asked) == 1 else KEY)

    with (
        ServerThread(create_app(service, api_keys=keys)) as server,
        sync_api.sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox"], headless=True
        )
        page = browser.new_context().new_page()
        page.on("dialog", answer)
        page.goto(server.url + "/")
        page.wait_for_function("document.querySelectorAll('#continuation li').length >= 10")
        assert len(asked) == 2 and "refused" in asked[1]  # a wrong key is asked for again
        assert page.evaluate("sessionStorage.getItem('spotifier-api-key')") == KEY
        page.reload()  # the same browser session: the key is kept, nothing is asked
        page.wait_for_function("document.querySelectorAll('#continuation li').length >= 10")
        assert len(asked) == 2
        browser.close()
