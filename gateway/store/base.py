"""The one interface for shared state: a request's counters, windows and ids in one batch.

Policies do not talk to the store. They describe what they need as operations (``Quota``,
``Once``, ``Read``, ``Write``); the pipeline sends all of a request's operations to the store
in one call, which the Redis backend evaluates in one Lua script, i.e. one network round trip.

Batch semantics (both backends, same tests):
* every operation is checked first; if any *enforcing* operation is denied, nothing in the
  batch is committed (a rejected request consumes no quota anywhere);
* otherwise every allowed operation is committed; a denied *shadow* operation
  (``enforce=False``) is reported but not committed, as if its own rule had rejected;
* ``Read`` always returns the value as it was before the batch; ``Write`` always commits
  when the batch commits;
* operations are checked in order, each seeing the effects of the allowed ones before it
  (two hits on one key in one batch count twice).

Atomicity is per hash tag: the Redis backend evaluates each tag's operations in one script,
all tags concurrently. When an enforcing operation is denied under one tag, the other tags
may already have committed; their effects are then undone (a second round trip, on rejections
only), so a concurrent batch can briefly see them. Keep a decision's keys under one tag when
that matters.

Keys are built with ``key()``: the ``{tag}`` part is a Redis Cluster hash tag, so the keys of
one decision that share a tag land in one slot and can be evaluated in one script.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

KEY_PREFIX = "psd2"

Algorithm = Literal["log", "gcra"]


# Key parts often come from requests (consent ids, request ids): escape the characters that
# structure a key, so no input can reach another key or move a key to another hash slot.
_ESCAPES = str.maketrans({"%": "%25", ":": "%3A", "{": "%7B", "}": "%7D"})


_NEEDS_ESCAPE = re.compile(r"[%:{}]")


def escape(part: str) -> str:
    # str.translate walks every character in Python-level table look-ups; most parts need none.
    return part.translate(_ESCAPES) if _NEEDS_ESCAPE.search(part) else part


def key(tag: str, *parts: str) -> str:
    """A store key whose hash tag is ``escape(tag)``: ``psd2:{tag}:part:part``, every part escaped."""
    return f"{KEY_PREFIX}:{{{escape(tag)}}}:" + ":".join(map(escape, parts))


def hash_tag(store_key: str) -> str:
    """The Redis Cluster hash tag of a key: the text between the first ``{`` and the next ``}``."""
    start = store_key.find("{")
    if start == -1:
        return store_key
    end = store_key.find("}", start + 1)
    if end <= start + 1:
        return store_key
    return store_key[start + 1 : end]


@dataclass(frozen=True, slots=True)
class Quota:
    """At most ``limit`` units per ``window_ms``.

    ``log``: an exact sliding log of hits (for small regulatory limits, e.g. 4 a day).
    ``gcra``: the generic cell rate algorithm (for throughput limits, e.g. 10000 a day),
    which allows a burst of ``limit`` and then one unit every ``window_ms / limit``.
    ``dedupe_key``: while that key is alive the hit passes without being counted; a counted
    hit (re)creates it for ``dedupe_ttl_ms`` (PSD2 pagination: page 2 within 15 minutes).
    """

    key: str
    limit: int
    window_ms: int
    cost: int = 1
    algorithm: Algorithm = "log"
    dedupe_key: str | None = None
    dedupe_ttl_ms: int = 0
    enforce: bool = True

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_ms < 1 or self.cost < 1:
            raise ValueError(f"quota {self.key}: limit, window_ms and cost must be >= 1")
        if self.dedupe_key is not None:
            if self.dedupe_ttl_ms < 1:
                raise ValueError(f"quota {self.key}: dedupe_ttl_ms must be >= 1")
            if hash_tag(self.dedupe_key) != hash_tag(self.key):
                raise ValueError(f"quota {self.key}: dedupe_key must share the key's hash tag")


@dataclass(frozen=True, slots=True)
class Once:
    """Allowed only if ``key`` was not seen within ``ttl_ms`` (replay protection, SET NX PX)."""

    key: str
    ttl_ms: int
    enforce: bool = True

    def __post_init__(self) -> None:
        if self.ttl_ms < 1:
            raise ValueError(f"once {self.key}: ttl_ms must be >= 1")


@dataclass(frozen=True, slots=True)
class Read:
    """The current value of ``key`` (a string), or None."""

    key: str


@dataclass(frozen=True, slots=True)
class Write:
    """Set ``key`` to ``value`` for ``ttl_ms`` (0 = no expiry) when the batch commits."""

    key: str
    value: str
    ttl_ms: int = 0

    def __post_init__(self) -> None:
        if self.ttl_ms < 0:
            raise ValueError(f"write {self.key}: ttl_ms must be >= 0")


Op = Quota | Once | Read | Write


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one operation, in the order the operations were given.

    ``allowed``: False when the operation was denied (always True for Read and Write).
    ``remaining``: units left in the window after this batch (Quota), else 0.
    ``retry_after_ms``: when denied, how long until the operation would be allowed.
    ``counted``: True when the hit was committed (False for a dedupe pass or a denial;
    for Once and Write: True when the key was set).
    ``value``: the value read (Read), else None.
    """

    allowed: bool
    remaining: int = 0
    retry_after_ms: int = 0
    counted: bool = False
    value: str | None = None


class StoreUnavailable(Exception):
    """The store did not answer within its time budget or failed; callers apply their ``fail`` mode."""


class Store(Protocol):
    """Shared state. ``now_ms`` is the caller's clock (epoch milliseconds): tests inject it."""

    async def run(self, ops: Sequence[Op], now_ms: int) -> list[Outcome]:
        """Evaluate a batch atomically per hash tag; raise ``StoreUnavailable`` on any failure."""
        ...

    async def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers within its budget."""
        ...

    async def warm(self, timeout_s: float) -> None:
        """Connect and prepare (scripts, cluster slots) before traffic; ``StoreUnavailable`` if not."""
        ...

    async def close(self) -> None: ...
