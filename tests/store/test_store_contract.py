"""The batch semantics of ``gateway.store.base``, run against every backend with an injected clock."""

from __future__ import annotations

import asyncio

import pytest

from gateway.store import Once, Op, Outcome, Quota, Read, Store, Write, key

MINUTE = 60_000


async def one(store: Store, op: Op, now: int) -> Outcome:
    return (await store.run([op], now))[0]


def log(limit: int = 3, window: int = 1000, **kw: object) -> Quota:
    return Quota(key("tpp1", "log"), limit, window, **kw)  # type: ignore[arg-type]


def gcra(limit: int = 10, window: int = 1000, **kw: object) -> Quota:
    return Quota(key("tpp1", "gcra"), limit, window, algorithm="gcra", **kw)  # type: ignore[arg-type]


async def test_empty_batch_returns_nothing(store: Store) -> None:
    """An empty batch is a no-op."""
    assert await store.run([], 0) == []


async def test_log_allows_exactly_limit_then_reports_retry(store: Store) -> None:
    """The sliding log allows `limit` hits, then denies until the oldest hit leaves the window."""
    got = [await one(store, log(), now) for now in (0, 100, 200, 300)]
    assert [(o.allowed, o.remaining, o.counted) for o in got] == [
        (True, 2, True),
        (True, 1, True),
        (True, 0, True),
        (False, 0, False),
    ]
    assert got[3].retry_after_ms == 700


async def test_log_window_rolls_hit_by_hit(store: Store) -> None:
    """Each hit leaves the window exactly `window_ms` after it was counted."""
    for now in (0, 100, 200):
        await one(store, log(), now)
    assert (await one(store, log(), 999)).retry_after_ms == 1
    assert (await one(store, log(), 1000)).allowed
    denied = await one(store, log(), 1099)
    assert (denied.allowed, denied.retry_after_ms) == (False, 1)
    assert (await one(store, log(), 1100)).allowed


@pytest.mark.parametrize(
    ("cost", "allowed", "retry"),
    [
        (1, True, 0),
        (2, False, 800),  # needs the oldest hit (t=0) gone
        (4, False, 900),  # needs the third oldest hit (t=100) gone
        (6, False, 1000),  # more than the limit: never, reported as a full window
    ],
)
async def test_log_cost_waits_for_the_right_hit(store: Store, cost: int, allowed: bool, retry: int) -> None:
    """A hit of cost n needs room for n units; retry_after names the hit that makes room."""
    await one(store, log(5, cost=2), 0)
    await one(store, log(5, cost=2), 100)
    got = await one(store, log(5, cost=cost), 200)
    assert (got.allowed, got.retry_after_ms) == (allowed, retry)


async def test_gcra_allows_a_burst_then_one_per_interval(store: Store) -> None:
    """GCRA: a burst of `limit`, then one unit every window/limit."""
    burst = [await one(store, gcra(), 0) for _ in range(10)]
    assert all(o.allowed for o in burst)
    assert [o.remaining for o in burst] == list(range(9, -1, -1))
    denied = await one(store, gcra(), 0)
    assert (denied.allowed, denied.retry_after_ms) == (False, 100)
    for now in range(100, 1100, 100):
        assert (await one(store, gcra(), now)).allowed
        assert (await one(store, gcra(), now)).retry_after_ms == 100


async def test_gcra_fractional_interval_rounds_retry_up(store: Store) -> None:
    """With 3 per second the interval is 333.3 ms; retry_after is rounded up."""
    for _ in range(3):
        assert (await one(store, gcra(3), 0)).allowed
    assert (await one(store, gcra(3), 0)).retry_after_ms == 334
    assert not (await one(store, gcra(3), 333)).allowed
    assert (await one(store, gcra(3), 334)).allowed


async def test_gcra_refills_to_full_burst_after_idle(store: Store) -> None:
    """After a full idle window the burst is available again."""
    for _ in range(10):
        await one(store, gcra(), 0)
    assert (await one(store, gcra(), 1000)).remaining == 9


@pytest.mark.parametrize("algorithm", ["log", "gcra"])
async def test_dedupe_passes_without_counting_until_it_expires(store: Store, algorithm: str) -> None:
    """A hit with a live dedupe key passes uncounted; after dedupe_ttl_ms it counts again."""
    page = Quota(
        key("c1", "quota"), 2, 24 * 60 * MINUTE, algorithm=algorithm,  # type: ignore[arg-type]
        dedupe_key=key("c1", "page"), dedupe_ttl_ms=15 * MINUTE,
    )  # fmt: skip
    first = await one(store, page, 0)
    second = await one(store, page, 14 * MINUTE)
    third = await one(store, page, 15 * MINUTE)
    assert (first.counted, first.remaining) == (True, 1)
    assert (second.allowed, second.counted, second.remaining) == (True, False, 1)
    assert (third.allowed, third.counted, third.remaining) == (True, True, 0)


async def test_once_denies_a_duplicate_until_ttl(store: Store) -> None:
    """Once: the first sight passes, a duplicate within ttl is denied, after ttl it passes again."""
    op = Once(key("tpp1", "jti", "abc"), ttl_ms=5000)
    first = await one(store, op, 0)
    dup = await one(store, op, 1000)
    assert (first.allowed, first.counted) == (True, True)
    assert (dup.allowed, dup.counted, dup.retry_after_ms) == (False, False, 4000)
    assert (await one(store, op, 5000)).allowed


async def test_denied_enforcing_op_commits_nothing(store: Store) -> None:
    """A denied enforcing op leaves every other op of the batch uncommitted."""
    full = log(1)
    await one(store, full, 0)
    other = Quota(key("tpp1", "other"), 5, 1000)
    once = Once(key("tpp1", "once"), 1000)
    write = Write(key("tpp1", "state"), "new")
    got = await store.run([other, once, write, full], 10)
    assert [o.allowed for o in got] == [True, True, True, False]
    assert not any(o.counted for o in got)
    assert got[0].remaining == 5
    after = await store.run([other, once, Read(write.key)], 20)
    assert [(o.allowed, o.remaining, o.value) for o in after] == [
        (True, 4, None),
        (True, 0, None),
        (True, 0, None),
    ]


async def test_denied_shadow_op_is_reported_not_committed(store: Store) -> None:
    """A denied shadow op does not stop the batch and is not counted itself."""
    shadow = Quota(key("tpp1", "shadow"), 1, 1000, enforce=False)
    await one(store, shadow, 0)
    other = Quota(key("tpp1", "other"), 5, 1000)
    got = await store.run([shadow, other, Once(key("tpp1", "n"), 1000)], 500)
    assert [(o.allowed, o.counted) for o in got] == [(False, False), (True, True), (True, True)]
    # The hit at 500 was not logged: at 1000 the shadow quota is free again.
    assert (await one(store, shadow, 1000)).allowed


async def test_write_and_read_with_ttl(store: Store) -> None:
    """Write sets a value for ttl_ms (0 = for ever); Read returns it until then."""
    await store.run([Write(key("t", "a"), "va", ttl_ms=1000), Write(key("t", "b"), "vb")], 0)
    reads = [Read(key("t", "a")), Read(key("t", "b"))]
    assert [o.value for o in await store.run(reads, 999)] == ["va", "vb"]
    assert [o.value for o in await store.run(reads, 1000)] == [None, "vb"]


async def test_read_sees_the_value_before_the_batch(store: Store) -> None:
    """A Read in the same batch as a Write of its key returns the old value."""
    k = key("t", "v")
    await one(store, Write(k, "old"), 0)
    got = await store.run([Write(k, "new"), Read(k)], 1)
    assert got[1].value == "old"
    assert (await one(store, Read(k), 2)).value == "new"


async def test_two_hits_on_one_key_in_one_batch_count_twice(store: Store) -> None:
    """Operations are checked in order: the second sees the first."""
    got = await store.run([log(3), log(3)], 0)
    assert [(o.allowed, o.remaining, o.counted) for o in got] == [(True, 2, True), (True, 1, True)]
    got = await store.run([log(3), log(3)], 1)
    assert [(o.allowed, o.counted) for o in got] == [(True, False), (False, False)]
    assert (await one(store, log(3), 2)).remaining == 0


async def test_keys_of_two_tags_in_one_batch(store: Store) -> None:
    """Ops under two hash tags are evaluated together and answered in the caller's order."""
    a, b = Quota(key("tppA", "q"), 2, 1000), Quota(key("tppB", "q"), 1, 1000)
    ops: list[Op] = [
        a,
        b,
        Once(key("tppB", "id"), 1000),
        Read(key("tppA", "r")),
        Write(key("tppA", "r"), "x"),
    ]
    got = await store.run(ops, 0)
    assert [(o.allowed, o.remaining, o.counted) for o in got] == [
        (True, 1, True),
        (True, 0, True),
        (True, 0, True),
        (True, 0, False),
        (True, 0, True),
    ]
    assert (await one(store, Read(key("tppA", "r")), 1)).value == "x"


async def test_denial_under_one_tag_commits_nothing_under_another(store: Store) -> None:
    """All-or-nothing holds across hash tags: the other tags' effects are taken back."""
    full = Quota(key("tppB", "q"), 1, 1000)
    await one(store, full, 0)
    log_a = Quota(key("tppA", "log"), 3, 1000, dedupe_key=key("tppA", "d"), dedupe_ttl_ms=1000)
    gcra_a = Quota(key("tppA", "gcra"), 3, 1000, algorithm="gcra")
    once_a, write_a = Once(key("tppA", "once"), 1000), Write(key("tppA", "w"), "new")
    await one(store, Write(write_a.key, "old"), 0)
    got = await store.run([log_a, gcra_a, once_a, write_a, full], 10)
    assert [(o.allowed, o.remaining, o.counted) for o in got] == [
        (True, 3, False),
        (True, 3, False),
        (True, 0, False),
        (True, 0, False),
        (False, 0, False),
    ]
    after = await store.run([log_a, gcra_a, once_a, Read(write_a.key)], 20)
    assert [(o.allowed, o.remaining, o.counted, o.value) for o in after] == [
        (True, 2, True, None),
        (True, 2, True, None),
        (True, 0, True, None),
        (True, 0, False, "old"),
    ]


async def test_concurrent_batches_allow_exactly_the_limit(store: Store) -> None:
    """50 concurrent batches on one key: exactly `limit` pass."""
    op = Quota(key("tpp1", "hot"), 7, MINUTE)
    got = await asyncio.gather(*(store.run([op, Once(key("tpp1", "n", str(i)), 1000)], 0) for i in range(50)))
    assert sum(o[0].allowed for o in got) == 7
    assert sum(o[1].counted for o in got) == 7
