"""The request target parser: exact paths, refused tricks, and no crash on any input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import Code, Reject
from gateway.target import parse_target


@pytest.mark.parametrize(
    ("raw", "path", "query"),
    [
        ("/v1/accounts", "/v1/accounts", ""),
        ("/v1/accounts?withBalance=true", "/v1/accounts", "withBalance=true"),
        ("https://evil.example/v1/accounts?a=1", "/v1/accounts", "a=1"),
        (
            "/v1/accounts/DE%20x/transactions?dateFrom=2025-01-01&page=2",
            "/v1/accounts/DE%20x/transactions",
            "dateFrom=2025-01-01&page=2",
        ),
        (
            "/v1/accounts?redirect=https%3A%2F%2Ftpp.example%2Fcb",
            "/v1/accounts",
            "redirect=https%3A%2F%2Ftpp.example%2Fcb",
        ),
    ],
)
def test_accepted_targets_keep_their_exact_bytes(raw: str, path: str, query: str) -> None:
    """What is routed is byte for byte what is forwarded."""
    target = parse_target(raw)
    assert (target.path, target.query) == (path, query)


@pytest.mark.parametrize(
    "raw",
    [
        "/a/../b",
        "/a/./b",
        "/a/%2e%2e/b",
        "/a/%2E/b",
        "//a",
        "/a//b",
        "/a%2fb",
        "/a%5Cb",
        "/a%00",
        "/a\\b",
        "/a b",
        "/a%zz",
        "/a?b=%zz",
        "*",
        "ftp://x/y",
        "http://x",
        "/a?\x00",
        "/\u00e9",
    ],
)
def test_ambiguous_targets_are_refused(raw: str) -> None:
    """Dot segments, empty segments, encoded separators and bad escapes are 400 FORMAT_ERROR."""
    with pytest.raises(Reject) as caught:
        parse_target(raw)
    assert caught.value.code is Code.FORMAT_ERROR


def test_overlong_target_is_414() -> None:
    """A target over the limit is refused before any parsing."""
    with pytest.raises(Reject) as caught:
        parse_target("/" + "a" * 9000)
    assert caught.value.status == 414


@given(st.text(max_size=300))
def test_any_text_parses_or_is_a_format_error(raw: str) -> None:
    """No input raises anything but a Reject, and accepted paths have no dot or empty segments."""
    try:
        target = parse_target(raw)
    except Reject as e:
        assert e.code is Code.FORMAT_ERROR
        return
    segments = target.path.split("/")[1:-1]
    assert all(segment not in ("", ".", "..") for segment in segments)
    assert "%2f" not in target.path.lower() and "%2e" not in target.path.lower()
