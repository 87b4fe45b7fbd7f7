"""Memory and Redis give the same outcomes for the same random batches (real epoch clock)."""

from __future__ import annotations

import random

from gateway.store import MemoryStore, Once, Op, Quota, Read, Write, key, open_store

EPOCH = 1_763_000_000_000  # realistic epoch milliseconds: exercises number formatting in Lua


def random_op(rng: random.Random) -> Op:
    tag = rng.choice(["a", "b"])
    enforce = rng.random() < 0.8
    match rng.randrange(6):
        case 0:
            return Quota(key(tag, "log"), 3, 1000, cost=rng.choice([1, 1, 2]), enforce=enforce)
        case 1:
            return Quota(
                key(tag, "gcra"), 3, 1000, cost=rng.choice([1, 1, 2]), algorithm="gcra", enforce=enforce
            )
        case 2:
            return Quota(key(tag, "paged"), 2, 2000, dedupe_key=key(tag, "page"), dedupe_ttl_ms=700)
        case 3:
            return Once(key(tag, "once", str(rng.randrange(3))), 500, enforce=enforce)
        case 4:
            return Read(key(tag, "v"))
        case _:
            return Write(key(tag, "v"), str(rng.randrange(100)), ttl_ms=rng.choice([0, 300]))


async def test_random_batches_agree(redis_url: str) -> None:
    """300 random batches over two tags: every outcome matches between the backends."""
    rng = random.Random(20240611)
    memory, redis = MemoryStore(), open_store(redis_url, budget_ms=1000)
    now = EPOCH
    try:
        for n in range(300):
            now += rng.choice([0, 1, 50, 120, 333, 400])
            ops = [random_op(rng) for _ in range(rng.randint(1, 4))]
            got, want = await redis.run(ops, now), await memory.run(ops, now)
            assert got == want, f"batch {n}: {ops}\n{got}\n{want}"
    finally:
        await redis.close()
