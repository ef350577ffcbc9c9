"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis).

Valid and invalid requests are generated for every operation and sent to a real uvicorn server on
127.0.0.1; the server must never answer 5xx, and its answers must match the schema it publishes.
The number of examples is bounded so the suite stays fast.
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")

from schemathesis import GenerationMode  # noqa: E402

from spotifier.serve import create_app  # noqa: E402
from spotifier.serve.testing import ServerThread, world_service  # noqa: E402

EXAMPLES = 40


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory):
    service = world_service(tmp_path_factory.mktemp("serve-fuzz"), ("item-knn",))
    with ServerThread(create_app(service)) as server:
        yield server.url


def operations(url: str):
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in found} >= {"/v1/continuations", "/v1/tracks/search"}
    return found


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_answers_match_the_schema(server_url, mode):
    seen: dict[int, int] = {}
    for operation in operations(server_url):
        if mode == GenerationMode.NEGATIVE and not (len(operation.query) or len(operation.body)):
            continue  # nothing to make invalid (/healthz, /v1/models)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case) -> None:
            response = case.call(base_url=server_url, timeout=30)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, (case.as_curl_command(), response.text)
            case.validate_response(response)

        check()
    assert seen, "no request was sent"
    if mode == GenerationMode.NEGATIVE:
        assert any(400 <= code < 500 for code in seen), seen


def test_valid_requests_are_answered(server_url):
    """A sanity anchor for the fuzzing: the schema's own example shape works."""
    response = httpx.post(f"{server_url}/v1/continuations", json={"k": 3})
    assert response.status_code == 200 and len(response.json()["items"]) == 3
