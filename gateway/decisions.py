"""Deciding a request's store operations: one round trip, then each policy judges its outcome."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.store.base import Outcome, Store, StoreUnavailable
from gateway.store.memory import MemoryStore


class StoreDecisions:
    def __init__(
        self,
        store: Store,
        on_unavailable: Callable[[str], None] = lambda _decision: None,
        on_round_trip: Callable[[float], None] = lambda _seconds: None,
    ) -> None:
        self.store = store
        self.fallback = MemoryStore()
        self.on_unavailable = on_unavailable
        self.on_round_trip = on_round_trip

    async def decide(self, ex: Exchange) -> None:
        """All store operations of the request in one call; the first enforced refusal stops it."""
        if not ex.deferred:
            return
        started = time.perf_counter()
        try:
            if ex.store_unavailable:
                raise StoreUnavailable("the store failed earlier in this request")
            outcomes = await self.store.run([d.op for d in ex.deferred], ex.now_ms)
            self.on_round_trip(time.perf_counter() - started)
        except StoreUnavailable as e:
            outcomes = await self._unavailable(ex, e)
        for item, outcome in zip(ex.deferred, outcomes, strict=True):
            if item.then is None:
                continue
            try:
                item.then(outcome)
            except Reject as reject:
                reject.rule = reject.rule or item.rule
                if not item.shadow:
                    raise
                ex.shadow_rejections.append(reject)

    async def _unavailable(self, ex: Exchange, error: StoreUnavailable) -> list[Outcome]:
        """Each rule's ``fail`` setting decides: closed rules refuse; open ones use a local fallback.

        The fallback is an in-process store: limits still hold per gateway process while the
        shared store is away, instead of vanishing.
        """
        closed = [d for d in ex.deferred if not d.fail_open and not d.shadow]
        self.on_unavailable("closed" if closed else "open")
        if closed:
            raise Reject(
                Code.SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable; retry later.",
                headers={"Retry-After": "1"},
                rule=closed[0].rule,
            ) from error
        return await self.fallback.run([d.op for d in ex.deferred], ex.now_ms)
