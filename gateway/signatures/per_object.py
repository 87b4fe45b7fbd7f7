"""Memoise a function of one object (a certificate, its public key) by the object's identity.

``functools.lru_cache`` hashes its argument, and hashing an ``x509.Certificate`` hashes its
DER: ~2.5 µs, more than what most cached results save. A TPP sends the same QSealC on every
request and the policy decodes it once per distinct header value (``qseal_signature._decode``),
so the object repeats and its ``id`` is a sound key: each entry holds the object itself, so
its id cannot be reused by another object while the entry lives. Bounded: the oldest entry
makes room. Exceptions are not cached. Unlike ``lru_cache`` it takes no lock: for the event
loop's thread, where the request checks run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def per_object(maxsize: int) -> Callable[[Callable[[K], V]], Callable[[K], V]]:
    """Decorate a one-argument function: the result is remembered per argument object."""

    def decorate(fn: Callable[[K], V]) -> Callable[[K], V]:
        cache: dict[int, tuple[K, V]] = {}

        @functools.wraps(fn)
        def cached(obj: K) -> V:
            hit = cache.get(id(obj))
            if hit is not None and hit[0] is obj:
                return hit[1]
            value = fn(obj)
            if len(cache) >= maxsize:
                del cache[next(iter(cache))]
            cache[id(obj)] = (obj, value)
            return value

        return cached

    return decorate
