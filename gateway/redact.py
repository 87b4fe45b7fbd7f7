"""What may appear in logs about a PSU or a consent: keyed hashes, never the values.

PSU-ID, PSU-Corporate-ID and Consent-ID identify people and their consents; logs keep only
HMAC-SHA256(key, value), truncated, so an SRE can follow one consent across lines and
replicas (same key) without the log revealing it. Without a configured key a random one is
drawn per process: joinable within the process only.
"""

from __future__ import annotations

import functools
import hmac
import secrets

# A PSU or consent makes many requests in a row: their hashes are kept for the next ones.
_CACHED = 4096


class KeyedHasher:
    def __init__(self, key: str = "") -> None:
        self.key = key.encode() if key else secrets.token_bytes(32)
        self._hash = functools.lru_cache(maxsize=_CACHED)(self._digest)

    def __call__(self, value: str | None) -> str | None:
        return self._hash(value) if value else None

    def _digest(self, value: str) -> str:
        return hmac.digest(self.key, value.encode(), "sha256").hex()[:20]
