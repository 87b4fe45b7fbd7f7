"""``maintenance-window``: planned unavailability answers 503 before the core is called.

Bank portals announce maintenance as wall-clock times in their own zone (seed 000: "on
21/06/2025 from 10:00 pm until 8:00 am next day"; seed 003: "On 17-18 June between 11pm -
6am"). A window is absolute (``start``/``end``) or recurring (``from``/``to`` on ``days``; a
``to`` earlier than ``from`` ends the next day, and the window belongs to the day it
starts on). During a window the answer is 503 SERVICE_UNAVAILABLE with ``Retry-After``
(RFC 9110 section 10.2.3, delay-seconds) until the window ends, following on through
windows that overlap or abut it.

Times are wall-clock times in ``timezone`` (IANA, ``zoneinfo``) converted to instants with
PEP 495 rules, so DST days are right: on the spring-forward day a time in the skipped hour
is read with the offset before the change (02:30 becomes 03:30 summer time) and a window
that thereby ends before it starts is empty that day; on the fall-back day a repeated time
means its first occurrence. ``announced_windows`` lists the current and coming windows for
an endpoint TPPs can read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property, lru_cache
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HH_MM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_ABSOLUTE_KEYS = frozenset({"start", "end", "reason"})
_RECURRING_KEYS = frozenset({"days", "from", "to", "reason"})
# Windows that overlap or abut are followed at most this far for Retry-After.
_MAX_CHAIN = 16
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One concrete window: epoch milliseconds, end exclusive."""

    start_ms: int
    end_ms: int
    reason: str

    def overlaps(self, low_ms: int, high_ms: int) -> bool:
        return self.start_ms <= high_ms and self.end_ms > low_ms


@dataclass(frozen=True, slots=True)
class Recurring:
    """``from``-``to`` on the listed weekdays (0 = Monday), in the schedule's zone."""

    days: frozenset[int]
    start: time
    end: time
    reason: str


class Schedule:
    """All windows of one policy, compiled: absolute ones as instants, recurring ones as rules."""

    def __init__(
        self, zone: ZoneInfo, absolute: Sequence[Occurrence], recurring: Sequence[Recurring]
    ) -> None:
        self.zone = zone
        self.absolute = tuple(absolute)
        self.recurring = tuple(recurring)

    def between(self, low_ms: int, high_ms: int) -> list[Occurrence]:
        """Windows that overlap ``[low_ms, high_ms]``, by start."""
        found = [o for o in self.absolute if o.overlaps(low_ms, high_ms)]
        for day in self._days(low_ms, high_ms):
            for rule in self.recurring:
                occurrence = _occurrence(rule, day, self.zone)
                if occurrence is not None and occurrence.overlaps(low_ms, high_ms):
                    found.append(occurrence)
        return sorted(found, key=lambda o: (o.start_ms, o.end_ms))

    def unavailable(self, now_ms: int) -> tuple[int, str] | None:
        """(end of the unavailability, first reason) when ``now_ms`` falls in a window, else None."""
        active = self.between(now_ms, now_ms)
        if not active:
            return None
        reason, end_ms = active[0].reason, max(o.end_ms for o in active)
        for _ in range(_MAX_CHAIN):
            following = [o.end_ms for o in self.between(end_ms, end_ms)]
            if not following:
                break
            end_ms = max(following)
        return end_ms, reason

    def _days(self, low_ms: int, high_ms: int) -> Iterator[date]:
        # A recurring window may start the local day before and cross midnight.
        day = _local(low_ms, self.zone).date() - timedelta(days=1)
        last = _local(high_ms, self.zone).date()
        while day <= last:
            yield day
            day += timedelta(days=1)

    def iso(self, epoch_ms: int) -> str:
        return _local(epoch_ms, self.zone).isoformat(timespec="seconds")


@lru_cache(maxsize=1024)
def _occurrence(rule: Recurring, day: date, zone: ZoneInfo) -> Occurrence | None:
    if day.weekday() not in rule.days:
        return None
    end_day = day if rule.end > rule.start else day + timedelta(days=1)
    start_ms = _epoch_ms(datetime.combine(day, rule.start, zone))
    end_ms = _epoch_ms(datetime.combine(end_day, rule.end, zone))
    return Occurrence(start_ms, end_ms, rule.reason) if end_ms > start_ms else None


def _local(epoch_ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, zone)


def _epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


@dataclass(frozen=True)
class MaintenanceWindowConfig:
    windows: list[Any] = doc(
        "Absolute {start, end, reason} or recurring {days, from, to, reason} windows.", factory=list
    )
    timezone: str = doc("IANA zone the window times are written in.", default="Europe/Brussels")
    tpps: list[str] = doc("Apply only to these TPPs (organizationIdentifier); empty: to all.", factory=list)

    def __post_init__(self) -> None:
        _ = self.schedule  # compile now, so a bad window fails at load with its YAML place

    @cached_property
    def schedule(self) -> Schedule:
        zone = _zone(self.timezone)
        absolute: list[Occurrence] = []
        recurring: list[Recurring] = []
        for index, item in enumerate(self.windows):
            window = _window(item, zone, _where(index, item))
            if isinstance(window, Occurrence):
                absolute.append(window)
            else:
                recurring.append(window)
        return Schedule(zone, absolute, recurring)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"timezone {name!r} is not an IANA time zone name") from e


def _where(index: int, item: Any) -> str:
    line = getattr(item, "line", 0)
    return f"windows[{index}]" + (f" (line {line})" if line else "")


def _window(item: Any, zone: ZoneInfo, where: str) -> Occurrence | Recurring:
    if not isinstance(item, Mapping):
        raise ValueError(f"{where}: a window is a mapping")
    keys = frozenset(item)
    if keys <= _ABSOLUTE_KEYS and {"start", "end"} <= keys:
        return _absolute(item, zone, where)
    if keys <= _RECURRING_KEYS and {"from", "to"} <= keys:
        return _recurring(item, where)
    raise ValueError(
        f"{where}: a window has either start and end, or from and to (with optional days); and reason"
    )


def _absolute(item: Mapping[str, Any], zone: ZoneInfo, where: str) -> Occurrence:
    start = _instant(item["start"], zone, f"{where}.start")
    end = _instant(item["end"], zone, f"{where}.end")
    if end <= start:
        raise ValueError(f"{where}: end must be after start")
    return Occurrence(start, end, _reason(item, where))


def _recurring(item: Mapping[str, Any], where: str) -> Recurring:
    start = _clock_time(item["from"], f"{where}.from")
    end = _clock_time(item["to"], f"{where}.to")
    if start == end:
        raise ValueError(f"{where}: from and to must differ")
    return Recurring(_days(item.get("days"), where), start, end, _reason(item, where))


def _instant(value: Any, zone: ZoneInfo, where: str) -> int:
    """``2025-06-21T22:00`` (in ``zone``, or with an explicit offset) -> epoch ms."""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as e:
            raise ValueError(f"{where}: expected a date and time like 2025-06-21T22:00; got {value!r}") from e
    if not isinstance(moment, datetime):
        raise ValueError(f"{where}: expected a date and time like 2025-06-21T22:00; got {value!r}")
    return _epoch_ms(moment if moment.tzinfo else moment.replace(tzinfo=zone))


def _clock_time(value: Any, where: str) -> time:
    if isinstance(value, int):  # YAML 1.1 reads an unquoted 23:00 as the base-60 number 1380
        raise ValueError(f'{where}: write times in quotes, like "23:00"')
    match = _HH_MM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f'{where}: expected a time like "23:00"; got {value!r}')
    return time(int(match[1]), int(match[2]))


def _days(value: Any, where: str) -> frozenset[int]:
    if value is None:
        return frozenset(range(7))
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}.days: expected a list of days like [sat, sun]")
    bad = [d for d in value if not isinstance(d, str) or d.lower() not in DAYS]
    if bad:
        raise ValueError(f"{where}.days: unknown day {bad[0]!r} (allowed: {', '.join(DAYS)})")
    return frozenset(DAYS.index(d.lower()) for d in value)


def _reason(item: Mapping[str, Any], where: str) -> str:
    reason = item.get("reason", "")
    if not isinstance(reason, str):
        raise ValueError(f"{where}.reason: expected a string")
    return reason


class MaintenanceWindowPolicy:
    name: ClassVar[str] = "maintenance-window"
    Config: ClassVar[type[MaintenanceWindowConfig]] = MaintenanceWindowConfig
    default_fail: ClassVar[FailMode] = "open"

    def __init__(self, config: MaintenanceWindowConfig) -> None:
        self.config = config
        self.schedule = config.schedule
        self.tpps = frozenset(config.tpps)

    async def enforce(self, ex: Exchange) -> None:
        if self.tpps and (ex.identity is None or ex.identity.tpp.organization_id not in self.tpps):
            return
        window = self.schedule.unavailable(ex.now_ms)
        if window is None:
            return
        end_ms, reason = window
        retry_after = -(-(end_ms - ex.now_ms) // 1000)  # whole seconds, rounded up
        text = f"Planned maintenance until {self.schedule.iso(end_ms)}." + (f" {reason}" if reason else "")
        raise Reject(Code.SERVICE_UNAVAILABLE, text, headers={"Retry-After": str(retry_after)})


def announced_windows(config: MaintenanceWindowConfig, now: datetime, days: int = 14) -> list[dict[str, Any]]:
    """Current and coming windows within ``days`` of ``now`` (aware), for TPPs to read.

    Each is ``{"start", "end"}`` (ISO 8601 with the zone's offset), ``"reason"``, and
    ``"tpps"`` (the TPPs it applies to; empty: all).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    low_ms = _epoch_ms(now)
    schedule = config.schedule
    return [
        {
            "start": schedule.iso(o.start_ms),
            "end": schedule.iso(o.end_ms),
            "reason": o.reason,
            "tpps": list(config.tpps),
        }
        for o in schedule.between(low_ms, low_ms + days * _DAY_MS)
    ]
