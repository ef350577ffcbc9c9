"""Who may use the API, and how often: API keys and a per-client rate limit.

`ApiKeys` holds the accepted keys as SHA-256 digests only (a key is never kept, logged or
echoed). A presented key is compared against every digest with `hmac.compare_digest`, without
stopping at the first match, so neither a key's content nor its position shows in the time
taken. Keys come from a file (one per line; blank lines and `#` comments skipped), re-read when
the file changes (`refresh`, called by the server's watcher), or from `SPOTIFIER_API_KEYS`
(comma- or whitespace-separated, fixed for the run).

`RateLimiter` is a token bucket per client: `rate` requests per second on average, bursts of up
to `max(1, rate)`. The client is the key's id when keys are set, else the peer address. Each
server process keeps its own buckets, so with `--workers N` the allowance is up to N times
`rate` (connections are spread evenly over the workers).

`AccessControl` is the ASGI middleware that applies both to `/v1/*` (the page, `/docs`,
`/healthz`, `/readyz` and `/metrics` stay open): 401 with `WWW-Authenticate: Bearer` for a missing
or unknown key, 429 with `Retry-After` (whole seconds) beyond the rate. A refused key spends the
client address's allowance, so keys cannot be guessed faster than the rate either.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from spotifier.errors import InvalidInputError

log = logging.getLogger("spotifier.serve")
ENV_KEYS = "SPOTIFIER_API_KEYS"
#: Buckets kept at most before idle (full) ones are dropped: bounds memory under many addresses.
MAX_BUCKETS = 10_000
_RATE = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(?:/\s*s(?:ec(?:ond)?)?)?\s*$")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_keys(text: str, source: str) -> list[str]:
    """The keys in `text`: one per line (or comma-separated), blank lines and `#` comments skipped.

    >>> parse_keys("a1\\n# old: z9\\n\\n b2 \\n", "keys.txt")
    ['a1', 'b2']
    >>> parse_keys("a1, b2 c3", "env")
    ['a1', 'b2', 'c3']
    """
    keys = []
    for line in text.splitlines():
        line = line.split("#", 1)[0] if line.lstrip().startswith("#") else line
        keys += [k for k in re.split(r"[\s,]+", line) if k]
    for key in keys:
        if not key.isprintable():
            raise InvalidInputError(f"{source}: an API key has non-printable characters")
    return keys


class ApiKeys:
    """The accepted API keys (as digests); `check(token)` in constant time per key."""

    def __init__(self, keys: list[str], path: Path | None = None, source: str = "") -> None:
        if not keys:
            raise InvalidInputError(f"{source or path}: no API key in it (one key per line)")
        self.path = path
        self._digests = tuple(_digest(k) for k in keys)
        self._stamp = self._stat()

    @classmethod
    def from_file(cls, path: Path) -> ApiKeys:
        return cls(cls._read(path), path, str(path))

    @classmethod
    def from_env(cls) -> ApiKeys | None:
        """The keys in `SPOTIFIER_API_KEYS`, or None when it is unset or blank."""
        text = os.environ.get(ENV_KEYS, "")
        return cls(parse_keys(text, ENV_KEYS), source=ENV_KEYS) if text.strip() else None

    @staticmethod
    def _read(path: Path) -> list[str]:
        try:
            return parse_keys(Path(path).read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"cannot read the API keys in {path}: {exc}") from exc

    def __len__(self) -> int:
        return len(self._digests)

    def check(self, token: str) -> str | None:
        """A short id of the key (for rate limits, never the key) if `token` is accepted."""
        presented = _digest(token)
        found: bytes | None = None
        for digest in self._digests:  # no early exit: the time does not depend on the match
            if hmac.compare_digest(presented, digest):
                found = digest
        return found.hex()[:12] if found is not None else None

    def _stat(self) -> tuple[int, int, int] | None:
        if self.path is None:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def refresh(self) -> bool:
        """Re-read the key file if it changed; True when the keys were replaced.

        A file that is missing or unreadable for a moment (being replaced) keeps the current
        keys; a file with no key left refuses every request until one is added.
        """
        stamp = self._stat()
        if self.path is None or stamp is None or stamp == self._stamp:
            return False
        try:
            keys = self._read(self.path)
        except InvalidInputError as exc:
            log.warning("API keys not reloaded (the current ones stay): %s", exc)
            return False
        self._stamp = stamp
        if not keys:
            log.warning("%s has no API key left: every /v1 request is refused", self.path)
        self._digests = tuple(_digest(k) for k in keys)  # one assignment: no torn read
        log.info("API keys reloaded from %s: %d key(s)", self.path, len(keys))
        return True


def load_keys(path: str | Path | None = None, env: bool = False) -> ApiKeys | None:
    """The keys in file `path`; else, when `env`, those in `SPOTIFIER_API_KEYS`; else None."""
    if path is not None and str(path):
        return ApiKeys.from_file(Path(path))
    return ApiKeys.from_env() if env else None


def parse_rate(text: str) -> float:
    """Requests per second from `N/s` (or a bare `N`).

    >>> parse_rate("20/s"), parse_rate("0.5/s"), parse_rate("3")
    (20.0, 0.5, 3.0)
    """
    match = _RATE.match(text)
    rate = float(match.group(1)) if match else 0.0
    if not match or not 0 < rate <= 1e6:
        raise InvalidInputError(
            f"--rate-limit must look like N/s with N > 0 (requests per second), got {text!r}"
        )
    return rate


class RateLimiter:
    """A token bucket per client: `allow(client)` is 0 when allowed, else seconds to wait."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)
        self._lock = threading.Lock()

    def allow(self, client: str) -> float:
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if tokens >= 1.0 - 1e-9:  # rounding: waiting the time it said must be enough
                self._buckets[client] = (max(0.0, tokens - 1.0), now)
                wait = 0.0
            else:
                self._buckets[client] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if len(self._buckets) > MAX_BUCKETS:
                self._prune(now)
        return wait

    def _prune(self, now: float) -> None:
        """Forget clients whose bucket has refilled (they are as new ones)."""
        full = [
            c
            for c, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate >= self.burst
        ]
        for client in full:
            del self._buckets[client]


class AccessControl:
    """ASGI middleware: API keys and the rate limit on `/v1/*` (see the module docstring)."""

    prefix = "/v1/"

    def __init__(
        self, app: ASGIApp, keys: ApiKeys | None = None, limiter: RateLimiter | None = None
    ) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        peer = scope.get("client")
        client = f"addr:{peer[0] if peer else '?'}"
        if self.keys is not None:
            token = _bearer(scope.get("headers", ()))
            key_id = self.keys.check(token) if token is not None else None
            if key_id is None:
                # Refused keys spend the address's allowance: guessing keys is rate limited too.
                if await self._limited(client, send):
                    return
                message = (
                    "this server needs an API key: send Authorization: Bearer <key>"
                    if token is None
                    else "the API key is not accepted"
                )
                headers = [(b"www-authenticate", b'Bearer realm="spotifier"')]
                await send_error(send, 401, "unauthorized", message, headers)
                return
            client = f"key:{key_id}"
        if await self._limited(client, send):
            return
        await self.app(scope, receive, send)

    async def _limited(self, client: str, send: Send) -> bool:
        """Whether `client` is over the rate (then it has been answered 429)."""
        if self.limiter is None:
            return False
        wait = self.limiter.allow(client)
        if wait <= 0:
            return False
        retry = max(1, math.ceil(wait))
        message = f"over {self.limiter.rate:g} requests per second; retry in {retry} s"
        headers = [(b"retry-after", str(retry).encode())]
        await send_error(send, 429, "rate_limited", message, headers)
        return True


def _bearer(headers: object) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` header, or None."""
    for key, value in headers:  # type: ignore[attr-defined]
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return str(token.strip())
            return None
    return None


async def send_error(
    send: Send,
    status: int,
    error: str,
    message: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """A JSON error answer `{"error", "message"}` sent straight from an ASGI middleware."""
    await send_json(send, status, orjson.dumps({"error": error, "message": message}), headers)


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A JSON body sent straight from ASGI code (no response object on the hot path)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
