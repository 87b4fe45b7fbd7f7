"""String formats and ECMA-262 patterns, each turned into a Python check once, at compile time.

Formats (OpenAPI 3.0 data types; RFC 3339 for dates): ``date``, ``date-time``, ``uuid``,
``ipv4``, ``ipv6`` (the ``ipaddress`` module, no zone ids), ``byte`` (RFC 4648 base64).
Other formats (``uri``, ``url``, ...) are annotations and not checked, as JSON Schema allows.

Patterns are ECMA-262 regular expressions. Python's ``re`` reads the ones in the Berlin Group
file unchanged; ``ecma_to_python`` adapts the constructs that differ (see its docstring).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import re
from collections.abc import Callable

FormatCheck = Callable[[str], bool]

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_DATE_TIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", re.ASCII)
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}", re.ASCII)
# Dotted quad without leading zeros: a strict subset of what ipaddress accepts, ten times faster.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}", re.ASCII)


def is_date(value: str) -> bool:
    if not _DATE.fullmatch(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_date_time(value: str) -> bool:
    match = _DATE_TIME.fullmatch(value)
    if not match or not is_date(match.group(1)):
        return False
    hour, minute, second = (int(part) for part in match.group(2).split(":"))
    offset = match.group(4)
    if len(offset) > 1 and (int(offset[1:3]) > 23 or int(offset[4:6]) > 59):
        return False
    # RFC 3339 section 5.6 allows second 60 (a leap second).
    return hour < 24 and minute < 60 and second <= 60


def is_uuid(value: str) -> bool:
    return _UUID.fullmatch(value) is not None


def is_ipv4(value: str) -> bool:
    if _IPV4.fullmatch(value):
        return True
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return "%" not in value  # a zone id is local to the sender's host: meaningless here


def is_ip(value: str) -> bool:
    return is_ipv4(value) or is_ipv6(value)


def is_byte(value: str) -> bool:
    if len(value) % 4 or not _BASE64.fullmatch(value):
        return False
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error:
        return False
    return True


FORMATS: dict[str, tuple[FormatCheck, str]] = {
    "date": (is_date, "must be a date (YYYY-MM-DD)"),
    "date-time": (is_date_time, "must be an RFC 3339 date-time"),
    "uuid": (is_uuid, "must be a UUID"),
    "ipv4": (is_ipv4, "must be an IPv4 address"),
    "ipv6": (is_ipv6, "must be an IPv6 address"),
    "byte": (is_byte, "must be base64"),
}
IP_ANY: tuple[FormatCheck, str] = (is_ip, "must be an IPv4 or IPv6 address")


# ECMA-262 constructs that Python's re spells differently, or reads differently:
_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z_])")
_CLASS_OR_ESCAPE = re.compile(r"\\.|\[(?:\\.|[^\]\\])*\]|\$", re.DOTALL)


def ecma_to_python(pattern: str) -> str:
    """Adapt an ECMA-262 pattern for ``re``, compiled with ``re.ASCII`` (ECMA's ``\\d \\w \\s`` are ASCII).

    * ``(?<name>...)`` becomes ``(?P<name>...)``.
    * ``$`` outside a character class becomes ``\\Z``: in Python ``$`` also matches before a
      final newline, so ``"EUR\\n"`` would pass ``^[A-Z]{3}$``.
    The patterns of the Berlin Group 1.3.11 file need neither; they compile unchanged.
    """
    adapted = _NAMED_GROUP.sub("(?P<", pattern)
    return _CLASS_OR_ESCAPE.sub(lambda m: r"\Z" if m.group(0) == "$" else m.group(0), adapted)


def compile_pattern(pattern: str, *, anchored: bool) -> Callable[[str], bool]:
    """A compiled ECMA pattern as a predicate; ``anchored`` makes it match the whole string.

    JSON Schema patterns are not anchored (``[A-Z]{3}`` matches inside ``"xEURx"``); the Berlin
    Group writes them without ``^...$`` but means the whole value (IBAN, currency, BIC), so the
    gateway anchors by default (policy setting ``anchor-patterns``).
    """
    compiled = re.compile(ecma_to_python(pattern), re.ASCII)
    if anchored:
        return lambda value: compiled.fullmatch(value) is not None
    return lambda value: compiled.search(value) is not None
