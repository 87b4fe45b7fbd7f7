"""Shared state behind one small interface, chosen by URL (``open_store``).

``memory://`` is the in-process store; ``redis://``, ``rediss://`` (TLS), ``unix://`` and
``redis+cluster://`` / ``rediss+cluster://`` are Redis, standalone or Cluster.
"""

from __future__ import annotations

from typing import Any

from gateway.store.base import (
    KEY_PREFIX,
    Algorithm,
    Once,
    Op,
    Outcome,
    Quota,
    Read,
    Store,
    StoreUnavailable,
    Write,
    hash_tag,
    key,
)
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore

__all__ = [
    "KEY_PREFIX",
    "Algorithm",
    "MemoryStore",
    "Once",
    "Op",
    "Outcome",
    "Quota",
    "Read",
    "RedisStore",
    "Store",
    "StoreUnavailable",
    "Write",
    "hash_tag",
    "key",
    "open_store",
]

_REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")


def open_store(url: str, *, budget_ms: int = 50, connect_timeout_ms: int = 200, **options: Any) -> Store:
    """The store for ``url``; ``options`` go to ``RedisStore.from_url`` (pool size, TLS files...).

    Nothing connects here: the first call (or ``ping()``) does, within ``budget_ms``.
    """
    scheme = url.partition("://")[0].lower()
    if scheme == "memory":
        return MemoryStore()
    if scheme in _REDIS_SCHEMES:
        return RedisStore.from_url(url, budget_ms=budget_ms, connect_timeout_ms=connect_timeout_ms, **options)
    # Only the scheme is echoed: the URL may carry a password.
    raise ValueError(
        f"unknown store URL scheme {scheme!r}: expected memory://, redis://, rediss://, unix://, "
        "redis+cluster:// or rediss+cluster://"
    )
