"""Even keep-alive connections over the worker processes of `spotifier serve --workers N`.

Each worker listens on its own SO_REUSEPORT socket and the kernel hands each new connection to
one of them by a hash of its addresses: random, so 16 clients often land 10 and 6 (measured: 10/6
and 11/5 in two tries), and the clients of the busier worker wait up to twice as long. A
keep-alive connection stays where it landed, so the imbalance lasts as long as the connections.

`Balancer` evens it out. Every worker writes its number of open connections into one slot of an
array shared by the workers (`shared_counts`; -1 while a worker is not serving). A worker that
holds more than its fair share (the total over the serving workers, rounded up, plus a tenth for
slack) answers its next request with `Connection: close`; the client opens a new connection,
which the kernel hands to any worker. Each such move either lands on a less loaded worker or
leaves the counts as they were, so the counts settle at their fair shares after a few
reconnects, and then nothing is closed any more. Only whole answers are followed by a close:
the client is told in the answer, as HTTP/1.1 lets a server do, and no request is lost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, MutableSequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Peer = tuple[str, int]


def shared_counts(workers: int) -> Any:
    """An array of `workers` connection counts shared with spawned worker processes (all -1)."""
    import multiprocessing

    counts = multiprocessing.get_context("spawn").RawArray("i", workers)
    for i in range(workers):
        counts[i] = -1
    return counts


def fair_share(counts: MutableSequence[int], moving: int = 0) -> int:
    """The most connections a serving worker should hold: the total over the serving workers
    (count >= 0; plus `moving`, connections told to close that will come back somewhere) shared
    out, rounded up, plus a tenth of that for slack (so that large numbers of connections, never
    split exactly, are not moved for ever).

    >>> fair_share([10, 6]), fair_share([9, 8]), fair_share([520, 480]), fair_share([3, -1])
    (8, 9, 550, 3)
    >>> fair_share([8, 6], moving=2)
    8
    """
    serving = [c for c in counts if c >= 0]
    if not serving:
        return 0
    share = math.ceil((sum(serving) + moving) / len(serving))
    return share + share // 10


class Balancer:
    """One worker's part: counts its open connections in its slot of `counts` and tells which
    answer should close its connection (`should_close`). `on_count(n)` hears every new count,
    `on_move()` every connection told to close (the worker's metrics)."""

    def __init__(
        self,
        counts: MutableSequence[int],
        me: int,
        on_count: Callable[[int], None] | None = None,
        on_move: Callable[[], None] | None = None,
    ) -> None:
        self.counts = counts
        self.me = me
        self.open: set[Peer] = set()
        self.leaving: set[Peer] = set()  # told to close; no longer counted
        self.moved = 0
        self.on_count = on_count
        self.on_move = on_move
        self._count()

    def _count(self) -> None:
        self.counts[self.me] = n = len(self.open) - len(self.leaving)
        if self.on_count is not None:
            self.on_count(n)

    def opened(self, peer: Peer | None) -> None:
        if peer is not None:
            self.open.add(peer)
            self._count()

    def closed(self, peer: Peer | None) -> None:
        if peer is not None:
            self.open.discard(peer)
            self.leaving.discard(peer)
            self._count()

    def should_close(self, peer: Peer | None) -> bool:
        """True when this connection's answer should end it: the worker holds more than its fair
        share. The connection stops counting at once, so a burst of answers closes no more
        connections than the excess."""
        if peer is None or peer not in self.open:
            return False
        if peer in self.leaving:
            return True
        if self.counts[self.me] <= fair_share(self.counts, len(self.leaving)):
            return False
        self.leaving.add(peer)
        self._count()
        self.moved += 1
        if self.on_move is not None:
            self.on_move()
        return True


#: The worker's balancer, installed by `spotifier serve --workers N` in each worker process (None
#: with one process: nothing to balance).
_installed: Balancer | None = None


def install(balancer: Balancer | None) -> None:
    global _installed
    _installed = balancer


def installed() -> Balancer | None:
    return _installed


class CloseWhenOverShare:
    """ASGI middleware: adds `Connection: close` to an answer whose connection the installed
    balancer moves elsewhere (a no-op without one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        balancer = _installed
        if scope["type"] != "http" or balancer is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        peer = (str(client[0]), int(client[1])) if client else None

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and balancer.should_close(peer):
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)
