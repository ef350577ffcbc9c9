"""The HTTP API against a real uvicorn server on 127.0.0.1, plus the search index and serve CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotifier.data import Catalog, Interactions, Query, TrainingData
from spotifier.home import Home
from spotifier.models import registry
from spotifier.models.base import Recommendations
from spotifier.models.chain import FallbackChain
from spotifier.serve import ServedModel, Service, create_app, default_model_names, saved_model_names
from spotifier.serve.balance import Balancer, fair_share
from spotifier.serve.batching import Batcher
from spotifier.serve.search import TrackIndex, normalize, tokenize
from spotifier.serve.testing import ServerThread, world_service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Service:
    return world_service(tmp_path_factory.mktemp("serve-api"), ("item-knn", "popularity"))


@pytest.fixture(scope="module")
def app(service: Service):
    return create_app(service)


@pytest.fixture(scope="module")
def client(app):
    with (
        ServerThread(app) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        yield http


def seeds_of(service: Service, n: int = 3) -> list[str]:
    """The URIs of `n` popular tracks (known to every model)."""
    order = np.argsort(-service.popularity, kind="stable")[:n]
    return [str(service.catalog.track_uris[i]) for i in order]


def continue_(client: httpx.Client, **body) -> dict:
    response = client.post("/v1/continuations", json=body)
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------------- happy paths
def test_continuation_matches_the_library_and_excludes_seeds(client, service):
    seeds = seeds_of(service, 3)
    body = continue_(client, tracks=seeds, k=25)
    assert body["model"] == service.default == "item-knn"
    uris = [item["uri"] for item in body["items"]]
    assert len(uris) == 25 == len(set(uris))
    assert not set(uris) & set(seeds)
    assert body["unknown_tracks"] == [] and body["route"] == "model"
    assert {"uri", "name", "artist", "album", "score"} <= set(body["items"][0])
    scores = [item["score"] for item in body["items"] if item["score"] is not None]
    assert scores == sorted(scores, reverse=True)
    index, _ = service.catalog.index_of(seeds)
    expected = service.models["item-knn"].chain.recommend([Query(seeds=index)], 25).row(0)[0]
    assert uris == [str(service.catalog.track_uris[i]) for i in expected]
    item = body["items"][0]
    assert item == {**service.describe(int(expected[0])), "score": item["score"]}


def test_default_k_is_500_or_the_whole_catalogue(client, service):
    seeds = seeds_of(service, 2)
    body = continue_(client, tracks=seeds)
    assert len(body["items"]) == min(500, service.catalog.n_tracks - 2)


def test_model_version_is_the_one_listed(client, service):
    models = client.get("/v1/models").json()
    assert models["default"] == "item-knn"
    listed = {m["name"]: m for m in models["models"]}
    assert set(listed) == {"item-knn", "popularity"}
    body = continue_(client, tracks=seeds_of(service, 1), k=5, model="popularity")
    assert body["model"] == "popularity"
    assert body["model_version"] == listed["popularity"]["version"]
    assert listed["item-knn"]["title_fallback"] == "title"


def test_title_only_and_empty_requests_use_the_fallback_chain(client, service):
    titled = continue_(client, name="rock", k=10)
    assert titled["route"] == "title"
    title_model = service.models["item-knn"].chain.title
    expected = title_model.recommend([Query(name="rock")], 10).row(0)[0]
    assert [i["uri"] for i in titled["items"]] == [
        str(service.catalog.track_uris[i]) for i in expected
    ]
    empty = continue_(client, k=10)
    assert empty["route"] == "popularity"
    most_popular = np.argsort(-service.popularity, kind="stable")[:10]
    assert [i["uri"] for i in empty["items"]] == [
        str(service.catalog.track_uris[i]) for i in most_popular
    ]
    assert continue_(client, name="   ", k=10)["items"] == empty["items"]


def test_unknown_uris_are_reported_and_ignored(client, service):
    seeds = seeds_of(service, 2)
    junk = ["spotify:track:doesnotexist", "not even a uri"]
    mixed = continue_(client, tracks=[junk[0], seeds[0], junk[1], seeds[1]], k=20)
    assert mixed["unknown_tracks"] == junk
    assert mixed["items"] == continue_(client, tracks=seeds, k=20)["items"]
    only_junk = continue_(client, tracks=junk, k=5)
    assert only_junk["route"] == "popularity" and only_junk["unknown_tracks"] == junk


def test_explain_adds_reasons(client, service):
    body = continue_(client, tracks=seeds_of(service, 3), k=10, explain=True)
    assert all("reason" in item for item in body["items"])
    assert any(item["reason"] for item in body["items"])
    via_query = client.post(
        "/v1/continuations?explain=true", json={"tracks": seeds_of(service, 3), "k": 10}
    ).json()
    assert via_query["items"] == body["items"]
    assert "reason" not in continue_(client, tracks=seeds_of(service, 3), k=10)["items"][0]


def test_health_docs_and_page(client, service):
    health = client.get("/healthz").json()
    assert health == {
        "status": "ok",
        "models": ["item-knn", "popularity"],
        "tracks": service.catalog.n_tracks,
        "auth": False,
    }
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert set(ready.json()["models"]) == {"item-knn", "popularity"}
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert {"/v1/continuations", "/v1/tracks/search", "/v1/models", "/healthz"} <= set(
        schema["paths"]
    )
    page = client.get("/")
    assert page.status_code == 200 and 'id="continuation"' in page.text
    assert client.get("/static/app.js").status_code == 200


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "malformed JSON"),
        (b'{"tracks": ["a",', 400, "malformed JSON"),
        (b'{"k": 0}', 422, "body.k"),
        (b'{"k": 501}', 422, "body.k"),
        (b'{"k": "5"}', 422, "body.k"),
        (b'{"k": 2.5}', 422, "body.k"),
        (b'{"tracks": "spotify:track:x"}', 422, "body.tracks"),
        (b'{"tracks": [1, 2]}', 422, "body.tracks.0"),
        (b'{"name": 7}', 422, "body.name"),
        (b'{"seeds": []}', 422, "body.seeds"),
        (b'{"explain": "yes"}', 422, "body.explain"),
        (b"[]", 422, "body"),
        (b'{"model": "nope"}', 404, "model 'nope'"),
    ],
)
def test_bad_requests_get_a_json_4xx_with_a_message(client, body, status, words):
    response = client.post(
        "/v1/continuations", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    assert words in response.json()["message"]


def test_seed_count_and_body_size_are_bounded(client):
    too_many = {"tracks": [f"spotify:track:{i}" for i in range(1001)]}
    response = client.post("/v1/continuations", json=too_many)
    assert response.status_code == 422 and "body.tracks" in response.json()["message"]
    big = b'{"name": "' + b"x" * 1_100_000 + b'"}'
    response = client.post(
        "/v1/continuations", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and "larger than" in response.json()["message"]

    def chunks():  # no Content-Length: the limit holds while streaming too
        for _ in range(12):
            yield b" " * 100_000

    response = client.post(
        "/v1/continuations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_wrong_routes_and_methods(client):
    assert client.get("/v1/continuations").status_code == 405
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


# ---------------------------------------------------------------------- search
def test_search_finds_tracks_by_name_and_artist_prefix(client, service):
    top = int(np.argmax(service.popularity))
    track = service.describe(top)
    word = tokenize(track["name"])[0]
    hits = client.get("/v1/tracks/search", params={"q": word[:3], "limit": 50}).json()["items"]
    assert hits and all(
        any(t.startswith(normalize(word[:3])) for t in tokenize(f"{h['name']} {h['artist']}"))
        for h in hits
    )
    full = client.get("/v1/tracks/search", params={"q": f"{track['name']} {track['artist']}"})
    assert track["uri"] in [h["uri"] for h in full.json()["items"]]
    pops = [h["popularity"] for h in hits]
    assert pops == sorted(pops, reverse=True)
    assert (
        len(client.get("/v1/tracks/search", params={"q": word[:1], "limit": 3}).json()["items"])
        <= 3
    )


def test_search_limits(client):
    assert client.get("/v1/tracks/search", params={"q": ""}).json()["items"] == []
    assert client.get("/v1/tracks/search", params={"q": "a", "limit": 0}).status_code == 422
    assert client.get("/v1/tracks/search", params={"q": "a", "limit": 101}).status_code == 422
    assert client.get("/v1/tracks/search", params={"q": "a" * 201}).status_code == 422


def _catalog(names: list[str], artists: list[int]) -> Catalog:
    n = len(names)
    return Catalog(
        track_uris=np.array([f"t:{i}" for i in range(n)], dtype=object),
        track_names=np.array(names, dtype=object),
        track_artist=np.array(artists, dtype=np.int32),
        track_album=np.zeros(n, dtype=np.int32),
        artist_uris=np.array(["a:0", "a:1", "a:2"], dtype=object),
        artist_names=np.array(["Ana Bö", "Bob", "Ana Cruz"], dtype=object),
        album_uris=np.array(["b:0"], dtype=object),
        album_names=np.array(["B"], dtype=object),
    )


WORDS = st.sampled_from(["ab", "abc", "b", "bob", "ana", "cruz", "bo", "x", "abba", "ç"])


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.lists(WORDS, min_size=1, max_size=3).map(" ".join), min_size=1, max_size=30),
    data=st.data(),
)
def test_search_equals_a_brute_force_scan_also_after_a_reorder(names, data):
    artists = data.draw(st.lists(st.integers(0, 2), min_size=len(names), max_size=len(names)))
    popularity = np.array(
        data.draw(st.lists(st.integers(0, 5), min_size=len(names), max_size=len(names)))
    )
    query = data.draw(st.lists(WORDS, min_size=1, max_size=3).map(" ".join))
    query += data.draw(st.sampled_from(["", " "]))
    limit = data.draw(st.integers(1, 10))
    catalog = _catalog(names, artists)
    got = TrackIndex(catalog, popularity).search(query, limit).tolist()
    # Built for another order, then reordered (as a hot reload does): the same answers.
    other = np.array(data.draw(st.permutations(popularity.tolist())))[::-1].copy()
    reordered = TrackIndex(catalog, other).reordered(popularity)
    assert reordered.search(query, limit).tolist() == got
    words = tokenize(query)
    prefix = None if query.endswith(" ") else words.pop()
    expected = []
    for t in sorted(range(len(names)), key=lambda t: (-popularity[t], t)):
        tokens = set(tokenize(names[t])) | set(tokenize(str(catalog.artist_names[artists[t]])))
        if set(words) <= tokens and (prefix is None or any(x.startswith(prefix) for x in tokens)):
            expected.append(t)
    assert got == expected[:limit]


# ---------------------------------------------------------------------- concurrency
def test_concurrent_requests_give_the_same_answers(client, service):
    uris = [str(u) for u in service.catalog.track_uris[:60]]
    bodies = [
        {"tracks": uris[i : i + 5], "k": 50, "model": ("item-knn", "popularity")[i % 2]}
        for i in range(0, 48, 2)
    ] + [{"name": "rock", "k": 30}, {"k": 30}]

    def ask(body: dict) -> dict:
        return continue_(client, **body)

    one_by_one = [ask(b) for b in bodies]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(ask, bodies * 2))
    assert together == one_by_one * 2


def test_concurrent_requests_are_scored_in_batches(app, client, service):
    """32 connections at once: answers equal the library's one-by-one ones, in fewer batches."""
    batcher = app.state.batcher
    uris = [str(u) for u in service.catalog.track_uris]
    bodies = [{"tracks": uris[i : i + 25], "k": 100} for i in range(0, 32 * 25, 25)]
    expected = []
    for body in bodies:
        seeds, _ = service.catalog.index_of(body["tracks"])
        items = service.models["item-knn"].chain.recommend([Query(seeds=seeds)], 100).row(0)[0]
        expected.append([uris[i] for i in items])
    before = (batcher.batches, batcher.scored)
    with ThreadPoolExecutor(max_workers=32) as pool:
        for _ in range(3):
            answers = list(pool.map(lambda b: continue_(client, **b), bodies))
            assert [[i["uri"] for i in a["items"]] for a in answers] == expected
    batches, scored = batcher.batches - before[0], batcher.scored - before[1]
    assert scored == 3 * len(bodies) and batches < scored


# ---------------------------------------------------------------------- the hot path
# Invalid or unusual bodies: the fast path hands them to FastAPI, whose answer must be the same
# with and without a query string (which always takes the FastAPI route).
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 600)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
BODIES = st.dictionaries(
    st.sampled_from(["name", "tracks", "k", "model", "explain", "seeds"]),
    JSON_VALUES | st.lists(st.sampled_from(["spotify:track:nope", "x"]), max_size=3),
    max_size=4,
).map(orjson.dumps) | st.sampled_from([b"", b"{", b"[1]", b"null", b'{"k": 5}', b'{"k": 5.0}'])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=BODIES, content_type=st.sampled_from(["application/json", "text/plain", None]))
def test_the_fast_path_answers_exactly_like_the_fastapi_route(client, body, content_type):
    headers = {"content-type": content_type} if content_type else {}
    fast = client.post("/v1/continuations", content=body, headers=headers)
    routed = client.post("/v1/continuations?explain=false", content=body, headers=headers)
    assert fast.status_code == routed.status_code, (body, fast.text, routed.text)
    assert fast.headers["content-type"] == routed.headers["content-type"]
    assert fast.json() == routed.json()
    assert fast.status_code < 500


def _odd_world() -> tuple[Service, list[str]]:
    """A service over a catalogue whose names need JSON escaping, with item-knn and popularity."""
    rng = np.random.default_rng(3)
    n = 40
    playlists = [rng.choice(n - 2, size=int(rng.integers(3, 9)), replace=False) for _ in range(80)]
    inter = Interactions.from_lists([p.tolist() for p in playlists], n_tracks=n)
    odd = ['quote " and \\ back', "tab\tnew\nline", "émoji 🎵", "\u2028 sep", "nul\x00", "plain"]
    catalog = Catalog(
        track_uris=np.array([f"spotify:track:{i}" for i in range(n)], dtype=object),
        track_names=np.array([f"{odd[i % len(odd)]} {i}" for i in range(n)], dtype=object),
        track_artist=(np.arange(n) % 3).astype(np.int32),
        track_album=(np.arange(n) % 5).astype(np.int32),
        artist_uris=np.array([f"a:{i}" for i in range(3)], dtype=object),
        artist_names=np.array(odd[:3], dtype=object),
        album_uris=np.array([f"b:{i}" for i in range(5)], dtype=object),
        album_names=np.array(odd[1:6], dtype=object),
    )
    data = TrainingData.from_catalog(inter, catalog)
    served = [
        ServedModel(name, FallbackChain(registry.model_class(name)().fit(data)))
        for name in ("item-knn", "popularity")
    ]
    return Service(catalog, served), [str(u) for u in catalog.track_uris]


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_the_json_answer_is_the_dict_answer_byte_for_byte(data):
    service, uris = _ODD_WORLD
    tracks = data.draw(st.lists(st.sampled_from([*uris, 'unknown "uri"', "🎵"]), max_size=6))
    request = service.prepare(
        tracks,
        data.draw(st.none() | st.text(max_size=10)),
        data.draw(st.integers(1, 40)),
        data.draw(st.sampled_from(["item-knn", "popularity", None])),
        explain=data.draw(st.booleans()),
    )
    ((items, scores),) = service.score([request])
    assert service.render_json(request, items, scores) == orjson.dumps(
        service.render(request, items, scores)
    )


_ODD_WORLD = _odd_world()


class _Failing(FallbackChain):
    """A chain that fails for any query titled 'boom' (to see one error spoil no other)."""

    def recommend(self, queries, k=500) -> Recommendations:
        if any(q.name == "boom" for q in queries):
            raise RuntimeError("boom")
        return super().recommend(queries, k)


def _gather(batcher: Batcher, requests: list) -> list:
    async def main() -> list:
        return await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True)

    return asyncio.run(main())


def test_the_batcher_keeps_arrival_order_and_isolates_errors():
    service, uris = _ODD_WORLD
    chain = service.models["item-knn"].chain
    failing = Service(service.catalog, [ServedModel("item-knn", _Failing(chain.primary))])
    order: list[str] = []

    def finish(request, items, scores) -> list[int]:
        order.append(request.query.name)
        return items.tolist()

    batcher = Batcher(failing, finish, max_batch=3)
    names = ["a", "b", "boom", "c", "d", "e", "f"]
    requests = [failing.prepare(uris[i : i + 3], name, 10) for i, name in enumerate(names)]
    answers = _gather(batcher, requests)
    batcher.close()
    assert order == [n for n in names if n != "boom"]  # first come, first served
    assert (batcher.batches, batcher.scored) == (3, 7)  # 3 + 3 + 1
    for name, request, answer in zip(names, requests, answers, strict=True):
        if name == "boom":
            assert isinstance(answer, RuntimeError)
        else:
            assert answer == chain.recommend([request.query], 10).row(0)[0].tolist()


# ---------------------------------------------------------------------- model choice and CLI
def test_default_model_rule(tmp_path):
    home = Home(tmp_path)
    assert default_model_names(home) == ["item-knn"]  # nothing saved: train item-knn

    def save(name: str) -> None:
        folder = home.model_dir(name)
        folder.mkdir(parents=True)
        (folder / "meta.json").write_text(json.dumps({"model": name}))

    save("popularity")
    save("als")
    assert saved_model_names(home) == ["als", "popularity"]
    assert default_model_names(home) == ["als"]
    save("hybrid")
    if "hybrid" in registry.model_names():
        assert default_model_names(home) == ["hybrid"]


def test_serve_refuses_a_public_host_without_allow_remote(tmp_path, spotifier_cli):
    result = spotifier_cli(tmp_path, "serve", "--host", "0.0.0.0", expect=2)
    assert "--allow-remote" in result.stderr and "0.0.0.0" in result.stderr


def _children(pid: int) -> set[int]:
    """The worker processes of a server (multiprocessing's resource tracker left out)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.add(int(child))
            except FileNotFoundError:
                continue
    return found


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_serve_command_starts_a_server(tmp_path, workers):
    import os
    import signal
    import time

    from spotifier.serve.testing import build_home, free_port

    home = build_home(tmp_path, playlists=200, models=("popularity",))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "spotifier", "--home", str(home.root), "serve"]
    command += ["--model", "popularity", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_healthy() -> dict | None:
        for _ in range(600):
            try:
                return httpx.get(f"{url}/healthz", timeout=1).json()
            except httpx.HTTPError:
                if proc.poll() is not None:
                    return None
                time.sleep(0.1)
        return None

    workers_seen: set[int] = set()
    try:
        health = wait_healthy()
        assert health is not None, proc.stderr.read().decode() if proc.stderr else ""
        assert health["models"] == ["popularity"]
        answer = httpx.post(f"{url}/v1/continuations", json={"k": 7}).json()
        assert answer["model"] == "popularity" and len(answer["items"]) == 7
        if workers > 1 and Path(f"/proc/{proc.pid}/task").exists():
            # Each worker is a process of its own on the same port; a killed one is replaced.
            workers_seen = _children(proc.pid)
            assert len(workers_seen) == workers
            os.kill(min(workers_seen), signal.SIGKILL)
            for _ in range(600):
                if len(_children(proc.pid) - workers_seen) == 1:
                    break
                time.sleep(0.1)
            replaced = _children(proc.pid)
            assert len(replaced) == workers and min(workers_seen) not in replaced
            workers_seen |= replaced
            assert httpx.post(f"{url}/v1/continuations", json={"k": 3}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode is not None
    for pid in workers_seen:  # no worker outlives the server
        assert not Path(f"/proc/{pid}").exists() or "zombie" in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except FileNotFoundError:
        return "zombie"


def test_static_files_are_in_the_package():
    static = Path(__import__("spotifier.serve", fromlist=["x"]).__file__).parent / "static"
    assert {"index.html", "app.js", "style.css"} <= {p.name for p in static.iterdir()}


def _connections_by_process(pids: set[int], port: int) -> dict[int, int]:
    """Each process's established TCP connections on local `port` (from /proc)."""
    established: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                established.add(fields[9])  # the socket's inode
    counts = {}
    for pid in pids:
        inodes = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        counts[pid] = len(inodes & established)
    return counts


def test_balancer_closes_only_the_excess():
    counts = [10, 6]
    balancer = Balancer(counts, 0)
    peers = [("127.0.0.1", 5000 + i) for i in range(10)]
    for peer in peers:
        balancer.opened(peer)
    assert counts == [10, 6]
    closing = [peer for peer in peers if balancer.should_close(peer)]
    assert len(closing) == 2 and counts == [8, 6]  # a burst of ten answers closes two
    assert balancer.should_close(closing[0])  # told once, told again
    assert not balancer.should_close(("127.0.0.1", 1))  # not one of this worker's
    for peer in closing:
        balancer.closed(peer)
    assert counts == [8, 6] and balancer.moved == 2
    balancer.opened(("127.0.0.1", 7000))  # one came back here: 9 against 7 after the other moved
    counts[1] = 7
    assert sum(balancer.should_close(p) for p in [*peers[2:], ("127.0.0.1", 7000)]) == 1
    assert fair_share([520, 480]) == 550  # many connections: a tenth of slack, no churn


def test_balancer_moves_a_proxied_connection_and_the_app_sees_the_forwarded_client():
    """Behind a proxy on loopback the balancer still knows the connection by its transport's
    peer (uvicorn's rewrite from X-Forwarded-For happens inside it), and the app (rate limits,
    logs) sees the forwarded client."""
    import asyncio

    from spotifier.serve import balance
    from spotifier.serve.run import balanced

    seen: list[tuple[str, int]] = []

    async def app(scope, receive, send):
        seen.append(scope["client"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    counts = [3, 0]
    balancer = Balancer(counts, 0)
    proxy = ("127.0.0.1", 40001)
    for port in (40001, 40002, 40003):
        balancer.opened(("127.0.0.1", port))
    scope = {
        "type": "http",
        "client": proxy,
        "scheme": "http",
        "headers": [(b"x-forwarded-for", b"203.0.113.9")],
    }
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    balance.install(balancer)
    try:
        asyncio.run(balanced(app)(scope, receive, send))
    finally:
        balance.install(None)
    assert seen == [("203.0.113.9", 0)]
    assert (b"connection", b"close") in sent[0]["headers"] and balancer.moved == 1


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc")
def test_workers_even_out_keep_alive_connections(tmp_path):
    import http.client
    import time

    from spotifier.serve.testing import build_home, free_port

    home = build_home(tmp_path, playlists=200, models=("popularity",))
    port = free_port()
    command = [sys.executable, "-m", "spotifier", "--home", str(home.root), "serve"]
    command += ["--model", "popularity", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    conns = []
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                time.sleep(0.1)
        for _ in range(300):  # both workers listening
            if len(_children(proc.pid)) == 2:
                break
            time.sleep(0.1)
        time.sleep(1.0)
        body, headers = json.dumps({"k": 3}), {"content-type": "application/json"}
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(16)]
        closes = []
        for _round in range(40):  # every connection asks once a round, reconnecting if told to
            closed = 0
            for conn in conns:
                conn.request("POST", "/v1/continuations", body, headers)
                answer = conn.getresponse()
                assert answer.status == 200 and len(json.loads(answer.read())["items"]) == 3
                closed += answer.getheader("connection", "") == "close"
            closes.append(closed)
            if not closed:
                break
        assert closes[-1] == 0, f"still moving connections after 40 rounds: {closes}"
        by_worker = _connections_by_process(_children(proc.pid), port)
        assert sorted(by_worker.values()) == [8, 8], (by_worker, closes)
        # The metrics show it too: each worker's connections (+1: the scrape's own) and the moves.
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        series = {
            line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("spotifier_worker_connections{")
        }
        assert len(series) == 2 and sum(series.values()) in (16, 17), series
        moved = [
            line for line in text.splitlines() if line.startswith("spotifier_connections_moved")
        ]
        assert float(moved[0].rsplit(" ", 1)[1]) == sum(closes), moved
    finally:
        for conn in conns:
            conn.close()
        proc.terminate()
        proc.wait(timeout=30)
