"""Header translation rules, error dialects and Accept negotiation, as tables."""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from rules.rulekit import identity

from gateway.config import ConfigError, Where, build
from gateway.core_headers import CoreHeaders
from gateway.dialects import Belfius, BerlinGroup, ProblemJson, read_any
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.accept import accepts, parse_media
from gateway.profiles import ProfileSpec, compile_profile
from gateway.target import parse_target
from gateway.translate import RequestRules, ResponseHeaders, ResponseRules


def exchange(**headers: str) -> Exchange:
    ex = Exchange("GET", parse_target("/v1/x"), CIMultiDictProxy(CIMultiDict(headers)), "127.0.0.1", 0.0, 0)
    ex.identity = identity()
    ex.request_id = "rid-1"
    return ex


REQUEST_CASES: list[tuple[str, dict[str, Any], dict[str, str], dict[str, str]]] = [
    (
        "rename X-Request-ID to Request-ID",
        {"rename": {"X-Request-ID": "Request-ID"}},
        {"X-Request-ID": "a"},
        {"Request-ID": "a"},
    ),
    (
        "rename Request-ID to X-Request-ID",
        {"rename": {"Request-ID": "X-Request-ID"}},
        {"Request-ID": "a"},
        {"X-Request-ID": "a"},
    ),
    ("remove apiKey", {"remove": ["apiKey"]}, {"apiKey": "k", "Keep": "1"}, {"Keep": "1"}),
    (
        "set a template",
        {"set": {"X-TPP": "{tpp.organization_id}/{request.id}"}},
        {"X-TPP": "spoof"},
        {"X-TPP": "PSDBE-NBB-0123456789/rid-1"},
    ),
    (
        "default only when absent",
        {"default": {"X-Corr": "generated"}},
        {"X-Corr": "mine"},
        {"X-Corr": "mine"},
    ),
    ("default when absent", {"default": {"X-Corr": "generated"}}, {}, {"X-Corr": "generated"}),
    (
        "order: remove, rename, set, default",
        {"remove": ["A"], "rename": {"B": "A"}, "set": {"C": "c"}, "default": {"A": "d"}},
        {"A": "1", "B": "2"},
        {"A": "2", "C": "c"},
    ),
]


@pytest.mark.parametrize(
    ("rules", "incoming", "expected"), [c[1:] for c in REQUEST_CASES], ids=[c[0] for c in REQUEST_CASES]
)
def test_request_rules(rules: dict[str, Any], incoming: dict[str, str], expected: dict[str, str]) -> None:
    """Input headers -> headers at the core (besides the gateway's own forwarding headers)."""
    compiled = CoreHeaders(build(RequestRules, rules, Where("t")))
    headers = compiled.build(exchange(**incoming), {})
    forwarding = {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https"}
    assert dict(headers) == {**expected, **forwarding}
    assert len(headers) == len(expected) + len(forwarding)  # no name twice


def test_response_rules_echo_and_allow() -> None:
    """Echo copies a request header; allow keeps only listed core headers."""
    rules = build(
        ResponseRules,
        {"echo": {"Request-ID": "Response-ID"}, "allow": ["Content-Type"], "rename": {"X-Trace": "Trace"}},
        Where("t"),
    )
    out = ResponseHeaders(rules).apply(
        CIMultiDict({"Content-Type": "application/json", "X-Trace": "t", "Server": "core"}),
        exchange(**{"Request-ID": "r"}),
    )
    assert dict(out) == {"Content-Type": "application/json", "Response-ID": "r"}


def test_unknown_template_field_is_a_config_error() -> None:
    """{tpp.secret} is not a template field."""
    with pytest.raises(ConfigError, match="unknown template field"):
        build(RequestRules, {"set": {"X": "{tpp.secret}"}}, Where("t"))


REJECT = Reject(Code.ACCESS_EXCEEDED, "Too many.")


def test_dialects_render_and_read_back() -> None:
    """Each dialect renders a rejection and reads its own shape back to the Berlin Group code."""
    belfius = Belfius({"ACCESS_EXCEEDED": {"error": "too_many_requests", "error-code": "429.001"}})
    for dialect in (BerlinGroup(), ProblemJson(), belfius):
        body = dialect.render(REJECT)
        read = read_any(body, (dialect,))
        assert read is not None and read.code is Code.ACCESS_EXCEEDED and read.text == "Too many."
    assert json.loads(ProblemJson().render(REJECT))["status"] == 429


@pytest.mark.parametrize("body", [b"", b"<html>Traceback</html>", b"[]", b'{"tppMessages": "x"}', b"\xff"])
def test_unreadable_core_errors_are_none(body: bytes) -> None:
    """Bodies in no known shape are not trusted."""
    assert read_any(body, (BerlinGroup(), ProblemJson())) is None


def test_core_text_is_cleaned() -> None:
    """Control characters in a core's text are replaced and the text is bounded."""
    body = json.dumps(
        {"tppMessages": [{"code": "FORMAT_ERROR", "text": "a\r\nInjected: 1" + "x" * 900}]}
    ).encode()
    read = read_any(body, (BerlinGroup(),))
    assert read is not None and "\n" not in read.text and len(read.text) == 512


VENDOR = "application/vnd.belfius.api+json; version=2"


@pytest.mark.parametrize(
    ("accept", "ok"),
    [
        ("application/json", True),
        ("*/*", True),
        ("application/*", True),
        (VENDOR, True),
        ("application/vnd.belfius.api+json; version=1", False),
        ("application/vnd.belfius.api+json", True),
        ("text/xml", False),
        ("application/json;q=0, text/xml", False),
        ("garbage", False),
        ("text/xml, application/json;q=0.1", True),
    ],
)
def test_accept_negotiation(accept: str, ok: bool) -> None:
    """Versions must match when asked for; q=0 excludes; wildcards match."""
    offers = [parse_media(o)[0] for o in (VENDOR, "application/json")]  # type: ignore[index]
    ranges = [r for r in map(parse_media, accept.split(",")) if r is not None]
    assert any(accepts(ranges, offer) for offer in offers) is ok


def test_profile_core_path_rewrite() -> None:
    """strip-prefix and add-prefix rewrite the path the core receives, query untouched."""
    spec = build(
        ProfileSpec, {"core-path": {"strip-prefix": "/belfius", "add-prefix": "/psd2/v2"}}, Where("t")
    )
    profile = compile_profile(spec)
    assert profile.core_target("/belfius/v1/accounts", "a=1") == "/psd2/v2/v1/accounts?a=1"
    assert profile.core_target("/other", "") == "/psd2/v2/other"


def test_profile_rejects_unknown_error_codes() -> None:
    """error-codes keys are Berlin Group codes."""
    with pytest.raises(ConfigError):
        build(ProfileSpec, {"error-codes": {"NOT_A_CODE": {"error": "x"}}}, Where("t"))
