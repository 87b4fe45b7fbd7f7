"""The Redis store on a 3-master Redis Cluster: one script per hash tag, each in its own slot."""

from __future__ import annotations

import asyncio

from support.redis_server import RedisCluster

from gateway.store import Once, Quota, RedisStore, key, open_store

TAGS = ["tppA", "tppB", "tppC", "consent-1", "consent-2"]


async def test_batch_across_slots_keeps_exact_limits(redis_cluster: RedisCluster) -> None:
    """Concurrent batches spanning several slots allow exactly each quota's limit."""
    store = open_store(redis_cluster.url, budget_ms=1000)
    assert isinstance(store, RedisStore)
    try:
        ops = [Quota(key(tag, "q"), limit, 60_000) for tag, limit in zip(TAGS, range(3, 8), strict=True)]
        # Shadow quotas: a denial under one tag must not stop the others from counting.
        ops = [Quota(q.key, q.limit, q.window_ms, enforce=False) for q in ops]
        got = await asyncio.gather(
            *(store.run([*ops, Once(key("tppA", "n", str(i)), 1000)], 0) for i in range(10))
        )
        for j, op in enumerate(ops):
            assert sum(o[j].allowed for o in got) == op.limit
        full = Quota(key("tppA", "q"), 3, 60_000)
        denied = await store.run([Quota(key("tppB", "fresh"), 5, 60_000), full], 1)
        assert [(o.allowed, o.counted) for o in denied] == [(True, False), (False, False)]
        assert (await store.run([Quota(key("tppB", "fresh"), 5, 60_000)], 2))[0].remaining == 4
    finally:
        await store.close()
