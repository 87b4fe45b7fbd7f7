"""``request-id-replay``: a TPP never gets the same X-Request-ID through twice.

Berlin Group: X-Request-ID is "unique to the call". A replayed (sealed) request is refused
before it reaches the core: the id is set once per TPP with an expiry (SET NX PX) inside the
request's single store round trip, so of N concurrent copies exactly one is forwarded.
With the store unreachable the rule fails closed (503), except for the methods listed in
``fail-open-methods`` (for banks that prefer serving reads then).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode
from gateway.store.base import Once, Outcome, key


@dataclass(frozen=True)
class RequestIdReplayConfig:
    window_s: int = doc("How long an X-Request-ID stays used.", default=86_400, minimum=1)
    header: str = doc("Header carrying the request id.", default="X-Request-ID")
    fail_open_methods: list[str] = doc("Methods served when the store is unreachable.", factory=list)
    status: int = doc("HTTP status of a replay.", default=400, minimum=400, maximum=499)


class RequestIdReplayPolicy:
    name: ClassVar[str] = "request-id-replay"
    Config: ClassVar[type[RequestIdReplayConfig]] = RequestIdReplayConfig
    default_fail: ClassVar[FailMode] = "closed"

    def __init__(self, config: RequestIdReplayConfig) -> None:
        self.config = config
        self.ttl_ms = config.window_s * 1000
        self.open_methods = frozenset(m.upper() for m in config.fail_open_methods)

    async def enforce(self, ex: Exchange) -> None:
        request_id = ex.headers.get(self.config.header)
        if not request_id:
            return  # the request-id policy decides whether a missing id is an error
        once = Once(key(ex.tpp_tag, "rid", request_id.lower()), self.ttl_ms)
        ex.defer(once, self._judge, fail_open=True if ex.method in self.open_methods else None)

    def _judge(self, outcome: Outcome) -> None:
        if not outcome.allowed:
            header = self.config.header
            raise Reject(
                Code.FORMAT_ERROR,
                f"This {header} was already used; every request needs a new one.",
                self.config.status,
            )
