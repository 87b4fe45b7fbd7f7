"""String formats and ECMA-262 pattern adaptation."""

from __future__ import annotations

import pytest

from gateway.openapi.formats import FORMATS, compile_pattern, ecma_to_python

# (format, valid values, invalid values)
FORMAT_CASES = [
    (
        "date",
        ["2024-02-29", "1999-12-31"],
        ["2023-02-29", "2024-1-01", "20240101", "2024-01-01T00:00:00Z", ""],
    ),
    (
        "date-time",
        ["2024-01-01T10:00:00Z", "2024-01-01T10:00:00.123+01:00", "2016-12-31T23:59:60Z"],
        ["2024-01-01", "2024-01-01T25:00:00Z", "2024-01-01T10:00:00", "2024-01-01T10:00:00+24:00"],
    ),
    (
        "uuid",
        ["99391c7e-ad88-49ec-a2ad-99ddcb1f7721"],
        ["99391c7ead8849eca2ad99ddcb1f7721", "{99391c7e-ad88-49ec-a2ad-99ddcb1f7721}"],
    ),
    ("ipv4", ["192.168.8.16", "0.0.0.0"], ["192.168.8", "256.1.1.1", "01.2.3.4", "::1", " 1.2.3.4"]),
    ("ipv6", ["::1", "2001:db8::8a2e:370:7334"], ["1.2.3.4", "fe80::1%eth0", "2001:db8:::1"]),
    ("byte", ["", "TWFu", "TWE="], ["TWF", "TW=u", "T@F="]),
]


@pytest.mark.parametrize(("name", "valid", "invalid"), FORMAT_CASES, ids=[c[0] for c in FORMAT_CASES])
def test_format(name: str, valid: list[str], invalid: list[str]) -> None:
    """Each format accepts its valid spellings and refuses near misses."""
    check, _ = FORMATS[name]
    assert [v for v in valid if not check(v)] == []
    assert [v for v in invalid if check(v)] == []


@pytest.mark.parametrize(
    ("ecma", "python"),
    [
        ("[A-Z]{3}", "[A-Z]{3}"),
        ("^[A-Z]{3}$", r"^[A-Z]{3}\Z"),
        ("(?<cc>[A-Z]{2})[0-9]{2}", "(?P<cc>[A-Z]{2})[0-9]{2}"),
        (r"[$]\$x$", r"[$]\$x\Z"),
        (r"\+[0-9]{1,3}\-[0-9()+\-]{1,30}", r"\+[0-9]{1,3}\-[0-9()+\-]{1,30}"),
    ],
)
def test_ecma_to_python(ecma: str, python: str) -> None:
    """Named groups and end anchors are rewritten; escaped and bracketed dollars are left alone."""
    assert ecma_to_python(ecma) == python


def test_digit_class_is_ascii_as_in_ecma() -> None:
    """\\d matches ASCII digits only, as in ECMA-262, not Arabic-Indic digits."""
    assert not compile_pattern(r"\d+", anchored=True)("٣")
    assert compile_pattern(r"\d+", anchored=True)("3")
