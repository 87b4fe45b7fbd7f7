"""The ``Date`` header and its distance from now: what makes a captured signed request go stale.

RFC 7231 section 7.1.1.1: senders use IMF-fixdate, recipients also accept the obsolete RFC 850
and asctime forms. Some banks' TPPs send ISO 8601 (``2025-06-21T10:00:00Z``), accepted too.
"""

from __future__ import annotations

import calendar
import functools
import re
from datetime import UTC, datetime, timedelta

from gateway.signatures.errors import ProblemKind, SignatureProblem

HEADER = "Date"
MAX_DATE_LENGTH = 64

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"(\d{2}):(\d{2}):(\d{2})"
_IMF = re.compile(_DAY + r", (\d{2}) " + _MONTH + r" (\d{4}) " + _TIME + r" GMT")
_RFC850 = re.compile(_LONG_DAY + r", (\d{2})-" + _MONTH + r"-(\d{2}) " + _TIME + r" GMT")
_ASCTIME = re.compile(_DAY + r" " + _MONTH + r" ([ \d]\d) " + _TIME + r" (\d{4})")
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))"
)


def _invalid() -> SignatureProblem:
    return SignatureProblem(ProblemKind.DATE_INVALID, HEADER, "Date is not an HTTP date")


@functools.lru_cache(maxsize=256)  # RFC 850 dates are read per request: their fields repeat too
def _epoch(year: int, month: int, day: int, hour: int, minute: int, second: int) -> float:
    # datetime validates the calendar (no 31 Feb); a leap second (RFC 5322 allows :60) counts as :59.
    try:
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except ValueError as e:
        raise _invalid() from e
    return float(calendar.timegm(moment.utctimetuple()))


def _two_digit_year(yy: int, now: float) -> int:
    # RFC 7231 section 7.1.1.1: a year more than 50 years ahead is the most recent past one.
    current = datetime.fromtimestamp(now, UTC).year
    year = current - current % 100 + yy
    return year - 100 if year > current + 50 else year


def _iso(match: re.Match[str]) -> float:
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    stamp = _epoch(year, month, day, hour, minute, second)
    if match.group(7):
        stamp += float("0." + match.group(7))
    if match.group(9):
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        if offset >= timedelta(hours=24) or int(match.group(11)) >= 60:
            raise _invalid()
        stamp -= offset.total_seconds() * (1 if match.group(9) == "+" else -1)
    return stamp


def parse_date(value: str, now: float | None = None) -> float:
    """Seconds since the epoch for an HTTP or ISO 8601 date; ``SignatureProblem`` otherwise."""
    text = value.strip(" \t")
    if len(text) > MAX_DATE_LENGTH or not text.isascii():
        raise _invalid()
    stamp = _absolute_date(text)
    if stamp is not None:
        return stamp
    if m := _RFC850.fullmatch(text):
        year = _two_digit_year(int(m[3]), datetime.now(UTC).timestamp() if now is None else now)
        return _epoch(year, _MONTHS[m[2]], int(m[1]), int(m[4]), int(m[5]), int(m[6]))
    raise _invalid()


@functools.lru_cache(maxsize=256)  # a Date value is shared by every request sent in that second
def _absolute_date(text: str) -> float | None:
    """The forms whose reading does not depend on the clock (RFC 850's two-digit year does)."""
    if m := _IMF.fullmatch(text):
        return _epoch(int(m[3]), _MONTHS[m[2]], int(m[1]), int(m[4]), int(m[5]), int(m[6]))
    if m := _ASCTIME.fullmatch(text):
        return _epoch(int(m[6]), _MONTHS[m[1]], int(m[2].strip()), int(m[3]), int(m[4]), int(m[5]))
    if m := _ISO.fullmatch(text):
        return _iso(m)
    return None


def check_skew(date_value: str | None, now: float, skew_s: float = 300) -> float:
    """The parsed ``Date``; DATE_MISSING, DATE_INVALID or DATE_SKEW (more than ``skew_s`` off)."""
    if date_value is None or not date_value.strip():
        raise SignatureProblem(ProblemKind.DATE_MISSING, HEADER, "Date header is missing")
    stamp = parse_date(date_value, now)
    if abs(stamp - now) > skew_s:
        raise SignatureProblem(ProblemKind.DATE_SKEW, HEADER, f"Date is more than {int(skew_s)} seconds off")
    return stamp
