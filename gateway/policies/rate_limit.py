"""``rate-limit``: throughput limits per TPP, route, consent or any key, several windows at once.

GCRA (the default) spreads a window's quota evenly and allows a burst of the whole quota;
``log`` is an exact sliding window for small limits. Every answer carries the IETF
RateLimit fields (draft-ietf-httpapi-ratelimit-headers) of the tightest window; a refusal is
429 ACCESS_EXCEEDED with ``Retry-After``. Throughput limits fail open by default: with the
shared store away, each gateway process enforces them locally instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode
from gateway.store.base import Outcome, Quota, key

_DURATION = re.compile(r"^(\d+)\s*(ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_FIELD = re.compile(r"\{([a-z_]+)(?::([A-Za-z0-9-]+))?\}")
_SOURCES = {"tpp", "route", "consent", "peer_ip", "header", "method"}
_QUOTA_CACHE_MAX = 10_000


def duration_ms(text: str) -> int:
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 500ms, 1s, 10m, 1h or 1d")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


@dataclass(frozen=True)
class Limit:
    count: int = doc("Requests allowed per window.", minimum=1)
    per: str = doc("Window length: 500ms, 1s, 10m, 1h, 1d.")
    name: str = doc("Name in the RateLimit headers.", default="")

    def __post_init__(self) -> None:
        duration_ms(self.per)


@dataclass(frozen=True)
class RateLimitConfig:
    limits: list[Limit] = doc("One or more windows, all enforced.")
    key: str = doc(
        "What is limited: a template of {tpp}, {route}, {consent}, {peer_ip}, {method}, {header:Name}.",
        default="{tpp}",
    )
    algorithm: Literal["gcra", "log"] = doc(
        "gcra (smooth, any size) or log (exact, small limits).", default="gcra"
    )
    headers: bool = doc("Send RateLimit-Policy and RateLimit response headers.", default=True)

    def __post_init__(self) -> None:
        if not self.limits:
            raise ValueError("at least one limit is required")
        for match in _FIELD.finditer(self.key):
            if match.group(1) not in _SOURCES:
                raise ValueError(
                    f"unknown key field {{{match.group(1)}}} (known: {', '.join(sorted(_SOURCES))})"
                )


class RateLimitPolicy:
    name: ClassVar[str] = "rate-limit"
    Config: ClassVar[type[RateLimitConfig]] = RateLimitConfig
    default_fail: ClassVar[FailMode] = "open"

    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self.windows = [(limit, duration_ms(limit.per)) for limit in config.limits]
        self.render_key = _key_renderer(config.key)
        self.per_tpp = "{tpp}" in config.key
        self._quota_cache: dict[tuple[str, str], tuple[Quota, ...]] = {}
        self.policy_header = ", ".join(
            f'"{limit.name or f"w{i}"}";q={limit.count};w={max(ms // 1000, 1)}'
            for i, (limit, ms) in enumerate(self.windows)
        )

    async def enforce(self, ex: Exchange) -> None:
        subject = self.render_key(ex)
        tag = ex.tpp_tag if self.per_tpp else subject
        seen: list[tuple[int, Outcome]] = []
        for index, quota in enumerate(self._quotas(tag, subject)):
            ex.defer(quota, self._judge(ex, index, seen))

    def _quotas(self, tag: str, subject: str) -> tuple[Quota, ...]:
        """One immutable Quota per window, built once per subject (a TPP sends many requests)."""
        quotas = self._quota_cache.get((tag, subject))
        if quotas is None:
            if len(self._quota_cache) >= _QUOTA_CACHE_MAX:
                self._quota_cache.clear()  # subjects from headers are unbounded: bound the memory
            quotas = self._quota_cache[(tag, subject)] = tuple(
                Quota(
                    key(tag, "rate", subject, str(window_ms)),
                    limit.count,
                    window_ms,
                    algorithm=self.config.algorithm,
                )
                for limit, window_ms in self.windows
            )
        return quotas

    def _judge(self, ex: Exchange, index: int, seen: list[tuple[int, Outcome]]) -> Callable[[Outcome], None]:
        def judge(outcome: Outcome) -> None:
            seen.append((index, outcome))
            if len(seen) == len(self.windows) and self.config.headers:
                self._headers(ex, seen)
            if not outcome.allowed:
                wait = str(max(math.ceil(outcome.retry_after_ms / 1000), 1))
                raise Reject(
                    Code.ACCESS_EXCEEDED, "Too many requests; retry later.", headers={"Retry-After": wait}
                )

        return judge

    def _headers(self, ex: Exchange, seen: list[tuple[int, Outcome]]) -> None:
        index, tightest = min(seen, key=lambda item: item[1].remaining / self.windows[item[0]][0].count)
        limit, window_ms = self.windows[index]
        used = limit.count - tightest.remaining
        reset = tightest.retry_after_ms or window_ms * used // limit.count
        ex.response_headers["RateLimit-Policy"] = self.policy_header
        name = limit.name or f"w{index}"
        ex.response_headers["RateLimit"] = f'"{name}";r={tightest.remaining};t={math.ceil(reset / 1000)}'


def _key_renderer(template: str) -> Callable[[Exchange], str]:
    """Compile the key template once; per request it is a few attribute reads."""
    parts: list[Callable[[Exchange], str]] = []
    last = 0
    for match in _FIELD.finditer(template):
        if match.start() > last:
            parts.append(_literal(template[last : match.start()]))
        parts.append(_field(match.group(1), match.group(2) or ""))
        last = match.end()
    if last < len(template):
        parts.append(_literal(template[last:]))
    if len(parts) == 1:
        return parts[0]  # the usual "{tpp}": one attribute read, no join
    return lambda ex: "".join(part(ex) for part in parts)


def _literal(text: str) -> Callable[[Exchange], str]:
    return lambda _ex: text


def _field(source: str, argument: str) -> Callable[[Exchange], str]:
    readers: dict[str, Callable[[Exchange], str]] = {
        "tpp": lambda ex: ex.tpp_tag,
        "route": lambda ex: ex.route.name if ex.route else "",
        "consent": lambda ex: ex.consent_id,
        "peer_ip": lambda ex: ex.peer_ip,
        "method": lambda ex: ex.method,
        "header": lambda ex: ex.headers.get(argument, ""),
    }
    return readers[source]
