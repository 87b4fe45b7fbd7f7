"""Hostile HTTP at the TPP listener: smuggling and desync inputs, header spoofing, path tricks.

Every input either gets a 4xx with nothing at the core, or reaches the core as exactly the
well-framed request(s) the table names: one Content-Length, no Transfer-Encoding, the body
intact, and no hop-by-hop, framing or gateway-owned header of the client's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from support.cores import RecordingCore, Seen
from support.gateway_fixtures import StartGateway
from support.pki import Pem, TestPki

from gateway.headers import HOP_BY_HOP, canonical
from resilience.wire import GET_ACCOUNTS, PAYMENT, PAYMENT_BODY, exchange, rid, statuses_of

pytestmark = pytest.mark.resilience

CLOSE = "Connection: close\r\n"
H2_SETTINGS = "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
JSON = "Content-Type: application/json\r\n"
BODY = PAYMENT_BODY.decode()
N = len(PAYMENT_BODY)
# A complete request as the body of another: llhttp ends an Upgrade or CONNECT request at its head.
SMUGGLED = GET_ACCOUNTS.replace("{rid}", "00000000-0000-4000-8000-000000000000") + "X-Smuggled: yes\r\n\r\n"


def chunked(*sizes: str) -> str:
    """A chunked body of PAYMENT_BODY split under the given raw chunk-size lines (then the last chunk)."""
    out, rest = "", BODY
    for size in sizes:
        length = int(size.split(";")[0], 16)
        out += f"{size}\r\n{rest[:length]}\r\n"
        rest = rest[length:]
    return out + "0\r\n\r\n"


@dataclass(frozen=True)
class Case:
    name: str
    raw: str
    answers: tuple[int, ...] = ()  # statuses the TPP gets; empty: one 4xx, whichever
    body: bytes = b""  # the body each forwarded request carries

    @property
    def forwarded(self) -> int:
        return self.answers.count(200)

    def bytes(self) -> bytes:
        return re.sub("{rid}", lambda _: rid(), self.raw).encode("latin-1")


def pay(extra: str, body: str = BODY) -> str:
    return PAYMENT + JSON + extra + CLOSE + "\r\n" + body


CASES = [
    Case("baseline POST", pay(f"Content-Length: {N}\r\n"), (200,), PAYMENT_BODY),
    Case("CL + TE", pay(f"Content-Length: {N}\r\nTransfer-Encoding: chunked\r\n", chunked(f"{N:x}"))),
    Case("TE + CL", pay("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", chunked(f"{N:x}"))),
    Case("duplicate CL, different", pay(f"Content-Length: {N}\r\nContent-Length: {N - 1}\r\n")),
    Case("duplicate CL, same", pay(f"Content-Length: {N}\r\nContent-Length: {N}\r\n")),
    Case("CL list", pay(f"Content-Length: {N}, {N}\r\n")),
    Case("CL with sign", pay(f"Content-Length: +{N}\r\n")),
    Case("duplicate Host", GET_ACCOUNTS + "Host: internal-admin.bank.local\r\n" + CLOSE + "\r\n"),
    Case("obs-fold", GET_ACCOUNTS + "X-Folded: a\r\n b\r\n" + CLOSE + "\r\n"),
    Case("obs-fold tab", GET_ACCOUNTS + "X-Folded: a\r\n\tTransfer-Encoding: chunked\r\n" + CLOSE + "\r\n"),
    Case("bare LF", (GET_ACCOUNTS + CLOSE + "\r\n").replace("\r\n", "\n")),
    Case("bare CR in value", GET_ACCOUNTS + "X-A: a\rX-B: b\r\n" + CLOSE + "\r\n"),
    Case("NUL in value", GET_ACCOUNTS + "X-A: a\x00b\r\n" + CLOSE + "\r\n"),
    Case("NUL in name", GET_ACCOUNTS + "X-\x00A: a\r\n" + CLOSE + "\r\n"),
    Case("space before colon", GET_ACCOUNTS + "Transfer-Encoding : chunked\r\n" + CLOSE + "\r\n"),
    Case("chunked", pay("Transfer-Encoding: chunked\r\n", chunked("a", f"{N - 10:x}")), (200,), PAYMENT_BODY),
    Case("chunk size 0x10", pay("Transfer-Encoding: chunked\r\n", "0x10\r\n" + BODY[:16] + "\r\n0\r\n\r\n")),
    Case(
        "chunk extension",
        pay("Transfer-Encoding: chunked\r\n", chunked("a;ext=1", f"{N - 10:x}")),
        (200,),
        PAYMENT_BODY,
    ),
    Case("chunk size negative", pay("Transfer-Encoding: chunked\r\n", "-1\r\nx\r\n0\r\n\r\n")),
    Case(
        "chunk size overflow", pay("Transfer-Encoding: chunked\r\n", "1" + "0" * 17 + "a\r\nx\r\n0\r\n\r\n")
    ),
    Case(
        "chunk size garbage", pay("Transfer-Encoding: chunked\r\n", "a x\r\n" + BODY[:10] + "\r\n0\r\n\r\n")
    ),
    Case("chunk data too long", pay("Transfer-Encoding: chunked\r\n", "2\r\nabc\r\n0\r\n\r\n")),
    Case("TE chunked, identity", pay("Transfer-Encoding: chunked, identity\r\n", chunked(f"{N:x}"))),
    Case("TE identity, chunked", pay("Transfer-Encoding: identity, chunked\r\n", chunked(f"{N:x}"))),
    Case("TE twice", pay("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunked(f"{N:x}"))),
    Case("TE xchunked", pay("Transfer-Encoding: xchunked\r\n", chunked(f"{N:x}"))),
    Case(
        "TE on HTTP/1.0",
        pay("Transfer-Encoding: chunked\r\n", chunked(f"{N:x}")).replace("HTTP/1.1", "HTTP/1.0"),
    ),
    Case(
        "Upgrade h2c",
        GET_ACCOUNTS
        + "Connection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\n"
        + H2_SETTINGS
        + "\r\n",
        (200,),
    ),
    Case(
        "Upgrade with a body",
        PAYMENT
        + f"Connection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: {len(SMUGGLED)}\r\n\r\n"
        + SMUGGLED,
    ),
    Case(
        "Upgrade, then a request",
        GET_ACCOUNTS + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n" + GET_ACCOUNTS + CLOSE + "\r\n",
        (200,),
    ),
    Case(
        "CONNECT with a body",
        f"CONNECT bank:443 HTTP/1.1\r\nHost: bank\r\nContent-Length: {len(SMUGGLED)}\r\n\r\n" + SMUGGLED,
    ),
    Case("pipelined", GET_ACCOUNTS + "\r\n" + GET_ACCOUNTS + CLOSE + "\r\n", (200, 200)),
    Case(
        "smuggled second request",
        PAYMENT
        + JSON
        + f"Content-Length: {N}\r\n\r\n"
        + BODY
        + "GET /v1/admin HTTP/1.1\r\nHost: x\r\n"
        + CLOSE
        + "\r\n",
        (200, 404),
        PAYMENT_BODY,
    ),
    Case("data after close", pay(f"Content-Length: {N}\r\n", BODY + "GET /v1/admin HTTP/1.1\r\n\r\n")),
    Case("two spaces", GET_ACCOUNTS.replace("GET ", "GET  ") + CLOSE + "\r\n", (200,)),
    Case("HTTP/0.9", "GET /v1/accounts\r\n\r\n", (505,)),
    Case("HTTP/2 version", GET_ACCOUNTS.replace("HTTP/1.1", "HTTP/2.0") + CLOSE + "\r\n", (505,)),
    Case("absolute form", GET_ACCOUNTS.replace(" /v1", " https://evil.example/v1") + CLOSE + "\r\n", (200,)),
    Case("userinfo", GET_ACCOUNTS.replace(" /v1", " https://u:p@evil.example/v1") + CLOSE + "\r\n", (200,)),
    Case("@ in path", GET_ACCOUNTS.replace("/v1/accounts", "/v1/accounts@evil.example") + CLOSE + "\r\n"),
    Case("dot-dot", GET_ACCOUNTS.replace("/v1/accounts", "/v1/x/../accounts") + CLOSE + "\r\n"),
    Case("encoded dot-dot", GET_ACCOUNTS.replace("/v1/accounts", "/v1/x/%2e%2e/accounts") + CLOSE + "\r\n"),
    Case("double slash", GET_ACCOUNTS.replace("/v1/accounts", "//v1/accounts") + CLOSE + "\r\n"),
    Case("encoded slash", GET_ACCOUNTS.replace("/v1/accounts", "/v1%2Faccounts") + CLOSE + "\r\n"),
    Case("backslash", GET_ACCOUNTS.replace("/v1/accounts", "/v1\\accounts") + CLOSE + "\r\n"),
    Case("fragment", GET_ACCOUNTS.replace("/v1/accounts", "/v1/accounts#x") + CLOSE + "\r\n"),
]


def assert_well_framed(seen: Seen, body: bytes) -> None:
    """One Content-Length (none without a body), no Transfer-Encoding, the body intact."""
    names = [canonical(k) for k, _ in seen.headers]
    assert names.count("content-length") == (1 if body else 0)
    assert "transfer-encoding" not in names
    assert seen.body == body
    assert not (HOP_BY_HOP - {"content-length"}) & set(names)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_hostile_request_is_refused_or_forwarded_well_framed(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem, case: Case
) -> None:
    """A 4xx with nothing at the core, or exactly the expected well-framed request(s) at the core."""
    gateway = await start(core.url)
    answer = await exchange(gateway.port, pki.client_context(tpp), case.bytes())
    statuses = statuses_of(answer)
    if not case.answers:
        assert len(statuses) == 1 and 400 <= statuses[0] < 500, answer[:300]
        assert b'"category":"ERROR"' in answer, "a Berlin Group body"
        assert core.seen == []
        return
    assert statuses == list(case.answers), answer[:300]
    assert len(core.seen) == case.forwarded
    if case.answers == (505,):
        assert b'"category":"ERROR"' in answer, "a Berlin Group body"
    for seen in core.seen:
        assert_well_framed(seen, case.body)
        assert seen.request_line.endswith(" HTTP/1.1")
        assert seen.target in ("/v1/accounts", "/v1/payments/sepa-credit-transfers")


SPOOFED = "spoofed-by-the-tpp"
# Each spelling some server or framework treats as the gateway's own header.
GATEWAY_OWNED = [
    "X-Forwarded-For",
    "x-forwarded-for",
    "X_Forwarded_For",
    "X-FORWARDED-PROTO",
    "X-Forwarded-Host",
    "x_forwarded_host",
    "X-Forwarded-Client-Cert",
    "Forwarded",
    "FORWARDED",
    "X-Real-IP",
    "X-PSD2GW-TPP-Organization-ID",
    "x-psd2gw-tpp-roles",
    "X_PSD2GW_TPP_Roles",
    "X-Psd2gw-Tpp-Identity",
    "X-PSD2GW-Anything-New",
]
HOP_BY_HOP_LINES = [
    "Connection: close, X-Hop-Named",
    "X-Hop-Named: " + SPOOFED,
    "Keep-Alive: timeout=5, " + SPOOFED,
    "TE: trailers, " + SPOOFED,
    "Trailer: " + SPOOFED,
    "Upgrade: " + SPOOFED,
    "Proxy-Connection: " + SPOOFED,
    "Proxy-Authorization: Basic " + SPOOFED,
    "Proxy-Authenticate: " + SPOOFED,
]


@pytest.mark.parametrize("name", GATEWAY_OWNED)
async def test_gateway_owned_header_never_reaches_the_core_with_the_clients_value(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem, name: str
) -> None:
    """In any case or ``_`` spelling, the core sees only the gateway's own value, never the TPP's."""
    gateway = await start(core.url)
    request = GET_ACCOUNTS.replace("{rid}", rid()) + f"{name}: {SPOOFED}\r\n" + CLOSE + "\r\n"
    answer = await exchange(gateway.port, pki.client_context(tpp), request.encode())
    assert statuses_of(answer) == [200]
    (seen,) = core.seen
    assert not [(k, v) for k, v in seen.headers if SPOOFED in v]
    assert seen.header("X-Forwarded-For") == ["127.0.0.1"]
    assert seen.header("X-PSD2GW-TPP-Organization-ID") == ["PSDBE-NBB-0123456789"]


async def test_hop_by_hop_and_connection_named_headers_never_reach_the_core(
    start: StartGateway, core: RecordingCore, pki: TestPki, tpp: Pem
) -> None:
    """Hop-by-hop headers, and any header the client names in Connection, stop at the gateway."""
    gateway = await start(core.url)
    lines = "".join(f"{line}\r\n" for line in HOP_BY_HOP_LINES)
    request = PAYMENT.replace("{rid}", rid()) + JSON + f"Content-Length: {N}\r\n" + lines + "\r\n" + BODY
    answer = await exchange(gateway.port, pki.client_context(tpp), request.encode())
    assert statuses_of(answer) == [200]
    (seen,) = core.seen
    assert_well_framed(seen, PAYMENT_BODY)
    assert not [(k, v) for k, v in seen.headers if SPOOFED in v or canonical(k) == "x-hop-named"]
