"""open_store picks a backend by URL scheme; keys carry their hash tag; memory stays bounded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.store import MemoryStore, Once, RedisStore, hash_tag, key, open_store
from gateway.store.base import escape


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("memory://", MemoryStore),
        ("redis://127.0.0.1:1/0", RedisStore),
        ("rediss://127.0.0.1:1/0?ssl_cert_reqs=none", RedisStore),
        ("unix:///tmp/nowhere.sock", RedisStore),
        ("redis+cluster://127.0.0.1:1", RedisStore),
    ],
)
async def test_open_store_chooses_backend_by_scheme(url: str, backend: type) -> None:
    """Each supported scheme opens its backend without connecting."""
    store = open_store(url)
    assert isinstance(store, backend)
    await store.close()


def test_open_store_rejects_unknown_scheme_without_echoing_secrets() -> None:
    """An unknown scheme is a ValueError naming the scheme, not the password."""
    with pytest.raises(ValueError, match="'memcached'") as e:
        open_store("memcached://user:s3cret@host")
    assert "s3cret" not in str(e.value)


@given(st.text(min_size=1), st.lists(st.text(), max_size=4))
def test_key_hash_tag_round_trip(tag: str, parts: list[str]) -> None:
    """hash_tag(key(tag, ...)) is the escaped tag for any tag, braces included."""
    assert hash_tag(key(tag, *parts)) == escape(tag)


@given(st.text(), st.lists(st.text(), max_size=3), st.text(), st.lists(st.text(), max_size=3))
def test_keys_are_injective(tag_a: str, parts_a: list[str], tag_b: str, parts_b: list[str]) -> None:
    """Different tags or parts never build the same key (no injection through request values)."""
    if (tag_a, parts_a) != (tag_b, parts_b) and len(parts_a) == len(parts_b):
        assert key(tag_a, *parts_a) != key(tag_b, *parts_b)


@pytest.mark.parametrize(
    ("store_key", "tag"), [("plain", "plain"), ("a{}b", "a{}b"), ("a{b", "a{b"), ("{x}{y}", "x")]
)
def test_hash_tag_follows_redis_cluster_rules(store_key: str, tag: str) -> None:
    """No tag, an empty tag or an unclosed brace hash the whole key, like Redis Cluster."""
    assert hash_tag(store_key) == tag


async def test_memory_sweep_drops_dead_entries() -> None:
    """The periodic sweep frees entries nobody touches again."""
    store = MemoryStore(sweep_every=1, sweep_size=1000)
    await store.run([Once(key("t", str(i)), 10) for i in range(500)], 0)
    await store.run([Once(key("t", "late"), 10)], 100)
    assert len(store._data) == 1
