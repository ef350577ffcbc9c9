"""`spotifier serve`'s timeouts: checked before anything loads, and passed through to uvicorn and
the app with 1 and N workers. Nothing asserts a duration: a shortened timeout must act before the
client's own bound, which is shorter than the default it replaces."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from spotifier.cli import app
from spotifier.errors import InvalidInputError
from spotifier.serve.run import serve_config
from spotifier.serve.testing import build_home, serve_process
from spotifier.serve.timeouts import DEFAULT_TIMEOUTS, Timeouts

OPTIONS = ("--head-timeout", "--body-timeout", "--keep-alive", "--drain-timeout")


@pytest.mark.parametrize(
    ("option", "value"),
    [(o, v) for o in OPTIONS for v in ("0", "-1")]
    + [("--head-timeout", "nan"), ("--drain-timeout", "inf")],
)
def test_a_timeout_must_be_seconds_above_zero(tmp_path, option, value, spotifier_cli):
    home = tmp_path / "home"  # no store: a check after loading would fail differently (exit 3)
    done = spotifier_cli(home, "serve", option, value, expect=2)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0] and "above 0" in lines[0], lines


def test_timeout_options_are_explained_and_reach_uvicorn():
    result = CliRunner().invoke(app, ["serve", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in OPTIONS:
        assert option in result.output
    assert "408" in result.output and "in flight" in result.output
    config = serve_config(object(), timeouts=Timeouts(head=2, body=3, keep_alive=4, drain=5))
    assert (config.http.head_timeout, config.timeout_keep_alive) == (2, 4)
    assert config.timeout_graceful_shutdown == 5
    assert serve_config(object()).http.head_timeout == DEFAULT_TIMEOUTS.head == 10
    with pytest.raises(InvalidInputError, match="--keep-alive must be"):
        Timeouts(keep_alive=0)


@contextlib.contextmanager
def connection(url: str, bound: float) -> Iterator[socket.socket]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=bound) as sock:
        yield sock


def answer(sock: socket.socket, until: bytes = b"") -> bytes:
    """What the server sends (b"" when it closes) up to `until`, or a marker when the client's
    bound passes first."""
    got = b""
    try:
        while chunk := sock.recv(4096):
            got += chunk
            if until in got:
                break
    except TimeoutError:
        return got + b"<nothing more before the client's bound>"
    return got


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_short_timeouts_act_before_the_defaults_would(tmp_path, workers):
    home = build_home(tmp_path, playlists=200, models=("popularity",))
    args = ["--model", "popularity", "--workers", str(workers)]
    args += ["--head-timeout", "1", "--body-timeout", "1.5", "--keep-alive", "0.5"]
    bound = 4.5  # generous for the short timeouts, shorter than every default (10, 30, 5 s)
    with serve_process(home, args, tmp_path / "serve.log") as (_, url):
        # Headers never finished: 408 (several connections, so that both workers are asked).
        with contextlib.ExitStack() as stack:
            socks = [stack.enter_context(connection(url, bound)) for _ in range(4)]
            for sock in socks:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
            for sock in socks:
                assert answer(sock).startswith(b"HTTP/1.1 408")
        # A body never finished: the app's 408, which names the timeout given.
        with connection(url, bound) as sock:
            sock.sendall(
                b"POST /v1/continuations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json"
                b"\r\ncontent-length: 100\r\n\r\n{"
            )
            got = answer(sock, until=b"}")
            assert got.startswith(b"HTTP/1.1 408") and b"within 1.5 s" in got, got
        # An idle kept-alive connection is closed.
        with connection(url, bound) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            assert answer(sock, until=b"}").startswith(b"HTTP/1.1 200")
            assert answer(sock) == b""
