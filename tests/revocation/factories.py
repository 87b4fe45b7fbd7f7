"""Helpers of the revocation tests: an injected clock and a wait for background work."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from gateway.eidas.revocation import RevocationChecker
from gateway.store import Store


class Clock:
    """A clock that moves only when told to; it starts at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class MakeChecker(Protocol):
    async def __call__(self, store: Store | None = None, /, **config: Any) -> RevocationChecker: ...


async def eventually(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    """Wait until ``condition()`` holds (background tasks at work); fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
