"""Score continuation requests in arrival order, several at once (micro-batching).

Requests that arrive while a batch is being scored wait in one FIFO queue; the next batch takes
them all (up to `max_batch`) and scores them with one `chain.recommend(queries, k)` call per
(model, k), which amortises the per-call overhead and turns als's per-query vector products into
one matrix product. Each request still gets its own row: a batched answer has the same items as
a request scored alone.

Scoring runs on the event loop itself: one batch at a time per process, strictly in arrival
order, with no thread pool contending for the GIL (FastAPI's pool of 40 threads gave 1.4 s p99
tails at concurrency 32). Between two batches the loop reads, parses and answers everything that
arrived, so queueing is FIFO-fair. (Scoring in one dedicated thread instead, so the loop keeps
parsing while numpy works, measured no better on 2 cores and was dropped.)
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import numpy as np

from spotifier.serve.service import Prepared, Service

T = TypeVar("T")
#: Requests scored together at most (a batch of 64 k=500 answers is ~5 MB of scores for als).
DEFAULT_BATCH = 64


class Batcher(Generic[T]):
    """A FIFO of prepared requests scored in batches; `await submit(request)` gives its answer.

    `finish(request, items, scores)` turns a scored row into the answer (e.g. the JSON bytes).
    `batches` and `scored` count what was done (scored / batches is the mean batch size).
    """

    def __init__(
        self,
        service: Service,
        finish: Callable[[Prepared, np.ndarray, np.ndarray], T],
        max_batch: int = DEFAULT_BATCH,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.service = service
        self.finish = finish
        self.max_batch = max_batch
        self.batches = 0
        self.scored = 0
        self._queue: deque[tuple[Prepared, asyncio.Future[T]]] = deque()
        self._busy = False
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, request: Prepared) -> T:
        """Queue `request` behind those already waiting; return its answer once scored."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new server (loop): nothing of the old one survives
            self._loop, self._busy = loop, False
            self._queue.clear()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((request, future))
        if not self._busy:
            self._busy = True
            # Not now: requests parsed in this loop iteration join the batch first.
            loop.call_soon(self._next)
        return await future

    def _take(self) -> list[tuple[Prepared, asyncio.Future[T]]]:
        batch: list[tuple[Prepared, asyncio.Future[T]]] = []
        while self._queue and len(batch) < self.max_batch:
            request, future = self._queue.popleft()
            if not future.cancelled():  # the client went away
                batch.append((request, future))
        return batch

    def _next(self) -> None:
        batch = self._take()
        if not batch:
            self._busy = False
            return
        self._deliver(batch, self._answer([request for request, _ in batch]))
        self._again()

    def _again(self) -> None:
        # The next batch after the loop has polled the sockets once more (FIFO: late arrivals
        # queue behind those already waiting).
        assert self._loop is not None
        self._loop.call_soon(self._next)

    def _deliver(
        self, batch: list[tuple[Prepared, asyncio.Future[T]]], answers: list[T | BaseException]
    ) -> None:
        self.batches += 1
        self.scored += len(batch)
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    def _answer(self, requests: Sequence[Prepared]) -> list[T | BaseException]:
        """Every request's answer, or the exception it raised (one bad request spoils no other)."""
        try:
            scored = self.service.score(requests)
            pairs = zip(requests, scored, strict=True)
            return [self.finish(request, items, scores) for request, (items, scores) in pairs]
        except Exception as exc:  # handed to the request(s) at fault
            if len(requests) == 1:
                return [exc]
            return [self._one(request) for request in requests]

    def _one(self, request: Prepared) -> T | BaseException:
        try:
            ((items, scores),) = self.service.score([request])
            return self.finish(request, items, scores)
        except Exception as exc:  # handed to that request's handler
            return exc
