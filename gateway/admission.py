"""Admission control: how many requests may be inside the pipeline at once, and what the rest get."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import resource
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from multidict import CIMultiDict

from gateway import render
from gateway.errors import Code, Reject
from gateway.http_connection import Handler
from gateway.http_request import Answer, IncomingRequest, Reply
from gateway.protection_stats import ProtectionStats
from gateway.settings import ProtectionSettings

_RSS_SAMPLE_S = 0.5
_PAGE = resource.getpagesize()


class Admission:
    """At most ``max_in_flight`` requests in the pipeline; ``max_queued`` wait; the rest get 503 at once.

    The fast path is a counter. Only a request that has to wait creates a future.
    """

    def __init__(self, settings: ProtectionSettings, stats: ProtectionStats) -> None:
        self.max_in_flight = settings.max_in_flight
        self.max_queued = settings.max_queued
        self.queue_timeout_s = settings.queue_timeout_s
        self.max_rss = settings.max_rss_mb * 1024 * 1024
        self.stats = stats
        self.over_memory = False
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._reject = Reject(
            Code.SERVICE_UNAVAILABLE,
            "The gateway is overloaded; retry after the time in Retry-After.",
            status=503,
            headers={"Retry-After": str(settings.retry_after_s)},
            rule="admission",
        )
        self._body = render.error_body(self._reject)

    def wrap(self, handler: Handler) -> Handler:
        async def admitted(request: IncomingRequest) -> Reply:
            if not self._enter_now() and not await self._wait_turn():
                return self.shed(request)
            try:
                return await handler(request)
            finally:
                self._leave()

        return admitted

    def _enter_now(self) -> bool:
        if self.stats.in_flight < self.max_in_flight and not self._waiting and not self.over_memory:
            self.stats.in_flight += 1
            return True
        return False

    async def _wait_turn(self) -> bool:
        """Queue for a slot; True once ``_leave`` has handed one over (counted in ``in_flight``)."""
        if self.over_memory or self.stats.queued >= self.max_queued:
            return False
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        self.stats.queued += 1
        try:
            async with asyncio.timeout(self.queue_timeout_s):
                await turn
        except TimeoutError:
            return self._handed_over(turn)
        except asyncio.CancelledError:
            if self._handed_over(turn):
                self._leave()
            raise
        finally:
            self.stats.queued -= 1
        return True

    def _handed_over(self, turn: asyncio.Future[None]) -> bool:
        if turn.done() and not turn.cancelled():
            return True  # the slot arrived just as the wait ended
        turn.cancel()
        return False

    def _leave(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)  # the slot passes straight to the first waiter
                return
        self.stats.in_flight -= 1

    def shed(self, request: IncomingRequest) -> Answer:
        self.stats.shed += 1
        headers = render.error_headers(self._reject, CIMultiDict())
        request_id = request.headers.get("X-Request-ID", "")
        if 0 < len(request_id) <= 64:
            headers["X-Request-ID"] = request_id
        return Answer(503, headers, self._body)

    async def running(self, _app: web.Application) -> AsyncIterator[None]:
        """Cleanup context: sample resident memory while the app runs (when a ceiling is set)."""
        task = asyncio.create_task(self._watch_memory()) if self.max_rss else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch_memory(self) -> None:
        while (rss := resident_bytes()) is not None:
            self.over_memory = rss > self.max_rss
            await asyncio.sleep(_RSS_SAMPLE_S)
        self.over_memory = False


def resident_bytes() -> int | None:
    """This process's resident memory (Linux ``/proc``; None elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None
