"""Date parsing (RFC 7231 three forms and ISO 8601) and the skew check."""

from __future__ import annotations

import pytest

from gateway.signatures.errors import ProblemKind, SignatureProblem
from gateway.signatures.freshness import check_skew, parse_date

NOW = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT, the RFC 7231 example


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "1994-11-06T08:49:37Z",
        "1994-11-06T08:49:37.000Z",
        "1994-11-06T09:49:37+01:00",
        "1994-11-06T03:49:37-0500",
        " Sun, 06 Nov 1994 08:49:37 GMT ",
    ],
)
def test_all_forms_mean_the_same_instant(value: str) -> None:
    assert parse_date(value, NOW) == NOW
    assert check_skew(value, NOW) == NOW


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, ProblemKind.DATE_MISSING),
        ("", ProblemKind.DATE_MISSING),
        ("yesterday", ProblemKind.DATE_INVALID),
        ("Sun, 31 Feb 1994 08:49:37 GMT", ProblemKind.DATE_INVALID),
        ("Sun, 06 Nov 1994 24:49:37 GMT", ProblemKind.DATE_INVALID),
        ("Sun, 06 Nov 1994 08:49:37 UTC", ProblemKind.DATE_INVALID),
        ("sun, 06 nov 1994 08:49:37 GMT", ProblemKind.DATE_INVALID),
        ("1994-11-06T08:49:37", ProblemKind.DATE_INVALID),
        ("1994-11-06T08:49:37+25:00", ProblemKind.DATE_INVALID),
        ("Sun, 06 Nov 1994 08:49:37 GMT" + "x" * 80, ProblemKind.DATE_INVALID),
        ("Sun, ٠٦ Nov 1994 08:49:37 GMT", ProblemKind.DATE_INVALID),
        ("Sun, 06 Nov 1994 08:54:38 GMT", ProblemKind.DATE_SKEW),
        ("Sun, 06 Nov 1994 08:44:36 GMT", ProblemKind.DATE_SKEW),
    ],
)
def test_problems(value: str | None, kind: ProblemKind) -> None:
    with pytest.raises(SignatureProblem) as caught:
        check_skew(value, NOW)
    assert (caught.value.kind, caught.value.header) == (kind, "Date")


def test_skew_boundary_is_inclusive() -> None:
    check_skew("Sun, 06 Nov 1994 08:54:37 GMT", NOW)
    check_skew("Sun, 06 Nov 1994 08:49:47 GMT", NOW, skew_s=10)


def test_rfc850_two_digit_years_follow_rfc7231() -> None:
    """A year more than 50 years ahead is read as the most recent past year with those digits."""
    now_2025 = 1750500000.0
    assert parse_date("Saturday, 21-Jun-25 10:00:00 GMT", now_2025) == parse_date("2025-06-21T10:00:00Z")
    assert parse_date("Monday, 21-Jun-99 10:00:00 GMT", now_2025) == parse_date("1999-06-21T10:00:00Z")
