"""A second engineer's review of the one-pass core headers, the pairs-based encoder to the core,
the per-connection client certificate and the prebuilt log encoder.

Its findings, fixed since, are the first four tests:
* a policy's header (an API key for the core) no longer replaced a gateway header of the same
  name: both reached the core (a regression of the one pass);
* a TPP's underscore spelling of a header the gateway or a profile ``set`` writes
  (``X_Core_Key`` next to ``X-Core-Key``) reached the core, the TPP's value first (older than
  the one pass).
The rest pin what the change must keep.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict
from test_core_headers import by_name, exchange, reference, rules_over

from gateway import log as gateway_log
from gateway.config import Where, build
from gateway.core_headers import CoreHeaders
from gateway.errors import Reject
from gateway.headers import canonical
from gateway.http_request import Answer, IncomingRequest, Reply
from gateway.http_server import HttpServer
from gateway.protection import ConnectionLimits
from gateway.protection_stats import ProtectionStats
from gateway.settings import ProtectionSettings
from gateway.translate import RequestRules
from gateway.upstream import HttpUpstream, HttpUpstreamConfig, UpstreamRequest


def rules(**spec: Any) -> RequestRules:
    return build(RequestRules, spec, Where("t"))


def values(pairs: list[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in pairs if n.lower() == name.lower()]


def canonical_names(pairs: list[tuple[str, str]]) -> list[str]:
    return [canonical(n) for n, _ in pairs]


def encode(pairs: list[tuple[str, str]]) -> bytes:
    return HttpUpstream(HttpUpstreamConfig("http://core.internal"))._encode(
        UpstreamRequest("POST", "/p", pairs, b"{}")
    )


# --- review findings, fixed ------------------------------------------------------------------------


def test_upstream_header_overrides_gateway_header_of_same_name() -> None:
    """At 8faabd0 ``headers.update(forwarding.headers(ex))`` then ``headers.update(ex.upstream_headers)``:
    a policy's header replaced a gateway header of the same name; the first one pass appended both.

    Reachable with configuration alone, e.g. ``identity.jwt.header: X-Core-Auth`` and an ``api-key``
    rule with ``core-header: X-Core-Auth`` (or any core-header equal to an X-PSD2GW-TPP-* name).
    """
    ex = exchange([("Keep", "1")], added={"X-Core-Auth": "core-credential"})
    out = CoreHeaders(RequestRules()).build(ex, {"X-Core-Auth": "identity-jwt"})
    assert values(out, "X-Core-Auth") == ["core-credential"]


def test_upstream_header_overrides_gateway_header_on_the_wire() -> None:
    ex = exchange([], added={"x-psd2gw-tpp-roles": "PSP_AI"})
    out = CoreHeaders(RequestRules()).build(ex, {"X-PSD2GW-TPP-Roles": "PSP_PI"})
    wire = encode(out).lower()
    assert wire.count(b"\r\nx-psd2gw-tpp-roles:") == 1


# --- older than the one pass: the same class of smuggling, in underscore spelling


def test_tpp_underscore_spelling_of_a_gateway_credential_header_is_dropped() -> None:
    """``api-key`` with ``core-header: X-Core-Key`` (or a non-X-PSD2GW ``identity.jwt.header``).

    The TPP sends ``X_Core_Key``; servers that treat ``_`` as ``-`` (``headers.canonical``'s own
    rationale: CGI/WSGI HTTP_X_CORE_KEY, nginx/Apache modules) see two values, the TPP's first.
    Overrides now compare ``canonical`` names, as the gateway-owned prefixes always did.
    """
    ex = exchange([("X_Core_Key", "tpp-chosen")], added={"X-Core-Key": "core-credential"})
    out = CoreHeaders(RequestRules()).build(ex, {"X-Identity-JWT": "jwt"})
    assert [v for n, v in out if canonical(n) == "x-core-key"] == ["core-credential"]
    ex = exchange([("x_identity_jwt", "forged")])
    out = CoreHeaders(RequestRules()).build(ex, {"X-Identity-JWT": "jwt"})
    assert [v for n, v in out if canonical(n) == "x-identity-jwt"] == ["jwt"]


def test_tpp_underscore_spelling_of_a_profile_set_header_is_dropped() -> None:
    """A profile ``set`` (e.g. the channel or TPP id the core trusts) is meant to be the only value."""
    core = CoreHeaders(rules(set={"X-Bank-TPP": "{tpp.organization_id}"}))
    out = core.build(exchange([("X_Bank_TPP", "PSDBE-NBB-victim")]), {})
    assert [v for n, v in out if canonical(n) == "x-bank-tpp"] == ["PSDBE-NBB-0123456789"]


# --- passing: properties the change must keep ----------------------------------------------------

NAMES = [
    "X-Request-ID", "x_request_id", "Request-ID", "apiKey", "API_KEY", "Keep", "KEEP", "A", "a", "B",
    "Connection", "CONNECTION", "Keep-Alive", "keep_alive", "Host", "X-Forwarded-For", "x_forwarded_proto",
    "X-Core-Key", "x_core_key", "TE", "Transfer_Encoding", "X-PSD2GW-TPP-Roles", "Forwarded_For",
]  # fmt: skip
VALUES = st.sampled_from(["1", "Keep, A", "close", "x_request_id", "B", "a, keep_alive", "x-core-key"])
RULES = rules_over(NAMES, 3)
REQUEST = st.tuples(
    st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=8),
    st.sets(st.sampled_from(["apikey", "API-KEY", "b", "A", "x_core_key"]), max_size=2),
    st.sets(st.sampled_from(["x-core-key", "A"]), max_size=1),
)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(spec=RULES, requests=st.lists(REQUEST, min_size=2, max_size=4))
def test_one_shared_cache_agrees_with_the_steps_request_after_request(
    spec: dict[str, Any], requests: list[tuple[list[tuple[str, str]], set[str], set[str]]]
) -> None:
    """One CoreHeaders (one ``_fates``) across requests with different Connection/dropped/ingress drops,
    mixed case and ``_`` spellings in rules and headers: every request as the step-by-step version."""
    compiled = rules(**spec)
    core = CoreHeaders(compiled)
    gateway = {"X-PSD2GW-TPP-Roles": "PSP_PI", "Keep": "gw"}
    for headers, dropped, always_drop in requests:
        ex = exchange(headers, dropped)
        assert by_name(core.build(ex, gateway, frozenset(always_drop))) == by_name(
            reference(ex, compiled, gateway, always_drop)
        )


def test_per_request_drops_do_not_stick_to_the_spelling() -> None:
    core = CoreHeaders(RequestRules())
    first = core.build(exchange([("Connection", "X-Hop"), ("X-Hop", "1"), ("apiKey", "k")], {"apikey"}), {})
    assert values(first, "X-Hop") == [] and values(first, "apiKey") == []
    second = core.build(exchange([("X-Hop", "2"), ("apiKey", "k2")]), {})
    assert values(second, "X-Hop") == ["2"] and values(second, "apiKey") == ["k2"]
    third = core.build(exchange([("Connection", "x_hop"), ("X-Hop", "3")]), {})
    assert values(third, "X-Hop") == []


def test_gateway_owned_and_hop_by_hop_never_reach_the_core_in_any_spelling() -> None:
    hostile = [
        "x_psd2gw_tpp_roles", "X-PSD2GW_TPP-Organization-ID", "X_FORWARDED_FOR", "x-forwarded_host",
        "Forwarded", "FORWARDED_FOR", "X_Real_IP", "Transfer_Encoding", "content_length", "Keep_Alive",
        "Proxy_Connection", "Http2_Settings", "HOST", "Upgrade", "TE", "Trailer", "Expect",
    ]  # fmt: skip
    core = CoreHeaders(rules(default={"Keep": "d"}))
    for _ in range(2):  # the second time through the cache
        out = core.build(exchange([(n, "evil") for n in hostile]), {"X-PSD2GW-TPP-Roles": "PSP_PI"})
        assert "evil" not in [v for _, v in out]
        wire = encode(out)
        assert b"evil" not in wire and b"Transfer-Encoding" not in wire


def test_encoder_takes_pairs_keeps_repeats_and_still_refuses_crlf_and_bad_names() -> None:
    wire = encode([("A", "1"), ("a", "2"), ("Host", "vhost"), ("Content-Length", "99"), ("Connection", "x")])
    assert b"\r\nA: 1\r\na: 2\r\n" in wire and b"\r\nHost: vhost\r\n" in wire
    assert b"99" not in wire and b"Connection" not in wire and b"Content-Length: 2\r\n" in wire
    for bad in ([("X", "a\r\nInjected: 1")], [("X", "a\x00")], [("X Y", "1")], [("Host", "h\r\nX: 1")]):
        with pytest.raises(Reject):
            encode(bad)


def test_log_line_is_what_json_dumps_gives() -> None:
    fields = {
        "request_id": 'r\udcff\u2028"\\\n\x00é',
        "roles": ["PSP_AI", "PSP_PI"],
        "n": 1.5,
        "nan": float("nan"),
        "none": None,
        "nested": {"a": [1, {"b": True}]},
    }
    assert gateway_log._encode(fields) == json.dumps(fields, separators=(",", ":"))
    with pytest.raises(TypeError):
        gateway_log._encode({"x": object()})


# --- per-connection certificate --------------------------------------------------------------------


@dataclass
class FakeSsl:
    der: bytes | None

    def getpeercert(self, binary_form: bool = False) -> Any:
        assert binary_form
        return self.der


@dataclass
class FakeTransport:
    ssl_object: FakeSsl | None
    protocol: Any = None
    written: bytearray = field(default_factory=bytearray)
    closed: bool = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    abort = close

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "ssl_object": self.ssl_object}.get(name, default)


async def test_each_connection_keeps_its_own_certificate() -> None:
    seen: list[bytes | None] = []

    async def handle(request: IncomingRequest) -> Reply:
        seen.append(request.peer_certificate)
        return Answer(200, CIMultiDict(), b"ok")

    protection = ProtectionSettings()
    stats = ProtectionStats()
    server = HttpServer(handle, protection, stats, body_limit=lambda: 1 << 20)
    limits = ConnectionLimits(protection, stats)
    connections = []
    for der in (b"cert-A", b"cert-B", None):
        slot = limits.admit("127.0.0.1")
        assert slot is not None
        connection = server.connection(slot)
        transport = FakeTransport(FakeSsl(der) if der is not None else None, connection)
        connection.connection_made(transport)  # type: ignore[arg-type]
        connections.append(connection)
    request = b"GET /v1/accounts HTTP/1.1\r\nHost: bank\r\n\r\n"
    for connection in (*connections, *connections):  # interleaved keep-alive requests
        connection.data_received(request)
        for _ in range(20):
            await asyncio.sleep(0)
    assert seen == [b"cert-A", b"cert-B", None, b"cert-A", b"cert-B", None]
