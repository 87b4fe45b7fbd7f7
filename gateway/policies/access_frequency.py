"""``access-frequency``: AIS reads without the PSU count against the consent's frequencyPerDay.

RTS Art. 36(5)(b) and seed 000: "TPP can access each AIS resources at a maximum of rolling 4
times period per day", counted per consent x endpoint x account (x transaction): the request
path holds all three. A read is unattended when the PSU is not present: no ``PSU-IP-Address``
(Berlin Group 4.4) or, in Belfius-style APIs, ``psu_involved`` not ``true``.

Pagination (seed 000): "The counter is not incremented when calling the same endpoint with a
different page number within 15 minutes", and one report read in several ``bookingStatus``
values is one access; "in case of a second call further in the day on the endpoint with the
same query parameters (page excluded), the incrementation is applied".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from typing import ClassVar, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode
from gateway.store.base import Outcome, Quota, key

DAY_MS = 86_400_000


@dataclass(frozen=True)
class AccessFrequencyConfig:
    max_per_day: int = doc(
        "The bank's maximum of unattended accesses a day (RTS: 4).", default=4, minimum=1, maximum=1000
    )
    window: Literal["rolling", "calendar-day"] = doc(
        "A rolling 24 h or the calendar day in `timezone`.", default="rolling"
    )
    timezone: str = doc("Time zone of the calendar day.", default="Europe/Brussels")
    psu_present_headers: list[str] = doc(
        "Headers whose presence means the PSU asked now.", factory=lambda: ["PSU-IP-Address"]
    )
    psu_involved_param: str = doc(
        "Query parameter or header that says the PSU is involved when 'true'.", default="psu_involved"
    )
    page_params: list[str] = doc(
        "Query parameters that only select a page.",
        factory=lambda: ["page", "pageIndex", "next", "pagesize", "pageSize"],
    )
    same_report_params: list[str] = doc(
        "Query parameters whose values read one report.", factory=lambda: ["bookingStatus"]
    )
    pagination_window_s: int = doc(
        "Further pages within this time after a counted call are free.",
        default=900,
        minimum=0,
        maximum=86_400,
    )

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {self.timezone!r}") from e


class AccessFrequencyPolicy:
    name: ClassVar[str] = "access-frequency"
    Config: ClassVar[type[AccessFrequencyConfig]] = AccessFrequencyConfig
    default_fail: ClassVar[FailMode] = "closed"
    needs_consent: ClassVar[bool] = True

    def __init__(self, config: AccessFrequencyConfig) -> None:
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        self.not_in_report = frozenset(p.lower() for p in (*config.page_params, *config.same_report_params))
        self.psu_headers = tuple(config.psu_present_headers)

    async def enforce(self, ex: Exchange) -> None:
        if ex.method != "GET" or not ex.consent_id or self._psu_present(ex):
            return
        limit = self.config.max_per_day
        if ex.consent is not None and ex.consent.frequency_per_day:
            limit = min(limit, ex.consent.frequency_per_day)
        counter = key(ex.tpp_tag, "freq", ex.consent_id, _digest(ex.target.path), *self._day(ex.now_ms))
        report = key(
            ex.tpp_tag, "page", ex.consent_id, _digest(ex.target.path + "?" + self._report_query(ex))
        )
        dedupe_ms = self.config.pagination_window_s * 1000
        quota = Quota(
            counter, limit, DAY_MS, dedupe_key=report if dedupe_ms else None, dedupe_ttl_ms=dedupe_ms
        )
        until_midnight = self._ms_to_midnight(ex.now_ms)
        ex.defer(quota, lambda outcome: _judge(outcome, limit, until_midnight))

    def _psu_present(self, ex: Exchange) -> bool:
        if any(ex.headers.get(h) for h in self.psu_headers):
            return True
        flag = self.config.psu_involved_param
        value = ex.headers.get(flag) or ex.target.query_params().get(flag) or ""
        return value.lower() == "true"

    def _report_query(self, ex: Exchange) -> str:
        params = [(k, v) for k, v in ex.target.query_params().items() if k.lower() not in self.not_in_report]
        return urlencode(sorted(params))

    def _ms_to_midnight(self, now_ms: int) -> int | None:
        if self.config.window == "rolling":
            return None
        now = dt.datetime.fromtimestamp(now_ms / 1000, self.zone)
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), self.zone)
        return int(midnight.timestamp() * 1000) - now_ms

    def _day(self, now_ms: int) -> tuple[str, ...]:
        if self.config.window == "rolling":
            return ()
        return (dt.datetime.fromtimestamp(now_ms / 1000, self.zone).date().isoformat(),)


def _judge(outcome: Outcome, limit: int, reset_ms: int | None) -> None:
    if outcome.allowed:
        return
    wait_ms = outcome.retry_after_ms if reset_ms is None else reset_ms
    retry_after = str(max(math.ceil(wait_ms / 1000), 1))
    raise Reject(
        Code.ACCESS_EXCEEDED,
        f"The consent allows {limit} accesses a day to this resource without the PSU; the limit is reached.",
        headers={"Retry-After": retry_after},
    )


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
