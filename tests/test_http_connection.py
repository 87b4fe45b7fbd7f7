"""The TPP connection's HTTP/1.1 handling, driven byte by byte through an in-memory transport.

The listener tests (tests/resilience/) drive the same code over real TLS; these pin the parts
that are this module's own: how bytes split across reads, pipelining, framing of answers,
what an unparseable or crashing request gets, and the drain.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from gateway.http_connection import TppConnection
from gateway.http_request import Answer, IncomingRequest, Reply
from gateway.http_server import HttpServer
from gateway.protection import ConnectionLimits
from gateway.protection_stats import ProtectionStats
from gateway.settings import ProtectionSettings

_STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) ")
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)\r\n", re.IGNORECASE)


@dataclass
class FakeTransport:
    """Collects what the connection writes; closing calls ``connection_lost`` as asyncio does."""

    protocol: TppConnection | None = None
    written: bytearray = field(default_factory=bytearray)
    closed: bool = False
    paused: int = 0
    resumed: int = 0

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.written += data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            assert self.protocol is not None
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    abort = close

    def pause_reading(self) -> None:
        self.paused += 1

    def resume_reading(self) -> None:
        self.resumed += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name == "peername" else default

    def statuses(self) -> list[int]:
        """The answers' status codes in order, read answer by answer: an echoed body may itself
        look like a status line. Bytes that do not start an answer where one is due give -1."""
        data, found, at = bytes(self.written), [], 0
        while at < len(data):
            line = _STATUS_LINE.match(data, at)
            head_end = data.find(b"\r\n\r\n", at)
            if line is None or head_end < 0:
                return [*found, -1]
            status = int(line.group(1))
            length = _CONTENT_LENGTH.search(data, at, head_end + 2)
            has_body = length is not None and status >= 200 and status not in (204, 304)
            at = head_end + 4 + (int(length.group(1)) if has_body else 0)
            found.append(status)
        return found


@dataclass
class Seen:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes


Handle = Callable[[IncomingRequest], Awaitable[Reply]]


def echo_handler(seen: list[Seen]) -> Handle:
    async def handle(request: IncomingRequest) -> Reply:
        body = await request.read_body(1 << 20)
        seen.append(Seen(request.method, request.raw_path, list(request.headers.items()), body))
        return Answer(200, CIMultiDict({"Content-Type": "text/plain"}), b"ok:" + body)

    return handle


def open_connection(
    handler: Handle, protection: ProtectionSettings | None = None
) -> tuple[TppConnection, FakeTransport, HttpServer]:
    protection = protection or ProtectionSettings()
    stats = ProtectionStats()
    server = HttpServer(handler, protection, stats, body_limit=lambda: 1 << 20)
    slot = ConnectionLimits(protection, stats).admit("127.0.0.1")
    assert slot is not None
    connection = server.connection(slot)
    transport = FakeTransport(connection)
    connection.connection_made(transport)  # type: ignore[arg-type]
    return connection, transport, server


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


def get(path: str = "/v1/accounts", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: bank\r\n{extra}\r\n".encode()


def post(body: bytes, *, cut: int | None = None, extra: str = "") -> bytes:
    """A POST with a Content-Length body or, given ``cut``, a chunked body in up to two chunks."""
    head = f"POST /v1/payments HTTP/1.1\r\nHost: bank\r\n{extra}"
    if cut is None:
        return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
    chunks = [part for part in (body[:cut], body[cut:]) if part]
    encoded = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in chunks)
    return f"{head}Transfer-Encoding: chunked\r\n\r\n".encode() + encoded + b"0\r\n\r\n"


# A request stream: each element is (wire bytes, the method, target and body the handler must see).
REQUEST = st.one_of(
    st.builds(lambda n: (get(f"/v1/accounts/{n}"), ("GET", f"/v1/accounts/{n}", b"")), st.integers(0, 999)),
    st.builds(lambda body: (post(body), ("POST", "/v1/payments", body)), st.binary(max_size=300)),
    st.builds(
        lambda body, cut: (post(body, cut=cut), ("POST", "/v1/payments", body)),
        st.binary(min_size=1, max_size=300),
        st.integers(1, 50),
    ),
)


def run(coroutine: Awaitable[None]) -> None:
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(coroutine)
    finally:
        loop.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests=st.lists(REQUEST, min_size=1, max_size=5), cuts=st.lists(st.integers(0, 4000), max_size=8))
def test_requests_are_seen_the_same_however_the_bytes_are_split(
    requests: list[tuple[bytes, tuple[str, str, bytes]]], cuts: list[int]
) -> None:
    """Pipelined requests split at any points reach the handler whole, in order, and are answered in order."""
    stream = b"".join(wire for wire, _ in requests)
    points = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})

    async def scenario() -> None:
        seen: list[Seen] = []
        connection, transport, _ = open_connection(echo_handler(seen))
        for start, end in itertools.pairwise(points):
            connection.data_received(stream[start:end])
            await settle(3)
        await settle()
        assert [(s.method, s.target, s.body) for s in seen] == [expected for _, expected in requests]
        assert transport.statuses() == [200] * len(requests)
        bodies = re.findall(rb"\r\n\r\nok:", bytes(transport.written))
        assert len(bodies) == len(requests)
        assert not transport.closed

    run(scenario())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from([b"", get(), post(b"{}")]), junk=st.binary(max_size=600), cut=st.integers(0, 600)
)
def test_arbitrary_bytes_never_crash_the_connection(prefix: bytes, junk: bytes, cut: int) -> None:
    """Whatever arrives, the connection answers 200 (the handler), 4xx or 505 and never raises."""
    stream = prefix + junk

    async def scenario() -> None:
        seen: list[Seen] = []
        connection, transport, _ = open_connection(echo_handler(seen))
        connection.data_received(stream[:cut])
        connection.data_received(stream[cut:])
        await settle()
        assert all(status == 200 or 400 <= status < 500 or status == 505 for status in transport.statuses())
        assert len(transport.statuses()) >= len(seen)

    run(scenario())


async def test_many_pipelined_requests_pause_reading_and_are_all_answered_in_order() -> None:
    seen: list[Seen] = []
    connection, transport, _ = open_connection(echo_handler(seen))
    connection.data_received(b"".join(get(f"/v1/accounts/{i}") for i in range(20)))
    assert transport.paused >= 1
    await settle(100)
    assert [s.target for s in seen] == [f"/v1/accounts/{i}" for i in range(20)]
    assert transport.statuses() == [200] * 20
    assert transport.resumed >= 1


async def test_upgrade_is_answered_as_http11_and_nothing_after_it_is_read() -> None:
    """A reader that took the upgrade would see the following bytes differently: they are never parsed."""
    seen: list[Seen] = []
    connection, transport, _ = open_connection(echo_handler(seen))
    connection.data_received(get(extra="Connection: Upgrade\r\nUpgrade: h2c\r\n") + get("/v1/consents"))
    await settle()
    assert [s.target for s in seen] == ["/v1/accounts"]
    assert transport.statuses() == [200]
    assert b"Connection: close" in transport.written and transport.closed


def smuggling(method: str, extra: str) -> bytes:
    """A request whose body is a second request: llhttp ends an upgrade request at its head."""
    inner = b"GET /v1/accounts HTTP/1.1\r\nHost: bank\r\nX-Smuggled: yes\r\n\r\n"
    head = f"{method} /v1/payments HTTP/1.1\r\nHost: bank\r\n{extra}Content-Length: {len(inner)}\r\n\r\n"
    return head.encode() + inner


@pytest.mark.parametrize(
    "raw",
    [
        smuggling("POST", "Connection: Upgrade\r\nUpgrade: h2c\r\n"),
        smuggling("POST", "Connection: Upgrade\r\nUpgrade: websocket\r\n"),
        smuggling("CONNECT", "").replace(b"/v1/payments", b"bank:443"),
    ],
    ids=["Upgrade h2c", "Upgrade websocket", "CONNECT"],
)
async def test_upgrade_or_connect_with_a_body_is_refused_whole(raw: bytes) -> None:
    seen: list[Seen] = []
    connection, transport, _ = open_connection(echo_handler(seen))
    cut = raw.index(b"\r\n\r\n") + 4
    connection.data_received(raw[:cut])
    connection.data_received(raw[cut:])
    await settle()
    assert seen == [] and transport.statuses() == [400] and transport.closed


@pytest.mark.parametrize(
    "raw",
    [
        get(extra="Host: other\r\n"),
        get(extra="Content-Type: a\r\nContent-Type: b\r\n"),
        b"GET /v1/accounts HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
        b"GET /v1/accounts HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    ],
    ids=["duplicate Host", "duplicate Content-Type", "obs-fold", "CL and TE"],
)
async def test_unparseable_request_gets_400_in_berlin_group_form_and_the_connection_closes(
    raw: bytes,
) -> None:
    seen: list[Seen] = []
    connection, transport, server = open_connection(echo_handler(seen))
    connection.data_received(raw)
    await settle()
    assert server.stats.malformed_requests == 1
    assert transport.statuses() == [400]
    assert b'"code":"FORMAT_ERROR"' in transport.written
    assert b"Connection: close" in transport.written
    assert transport.closed and seen == []


async def test_request_parsed_with_an_error_in_the_same_read_is_not_answered() -> None:
    """A valid request followed by garbage in one read may be half of a smuggling attempt: one 400 only."""
    seen: list[Seen] = []
    connection, transport, _ = open_connection(echo_handler(seen))
    connection.data_received(get() + b"GET /x HTTP/1.1\r\nBad Header\r\n\r\n")
    await settle()
    assert transport.statuses() == [400] and seen == []


async def test_a_crashing_handler_gets_500_in_berlin_group_form_and_the_connection_closes() -> None:
    async def crash(request: IncomingRequest) -> Reply:
        raise RuntimeError("bug")

    connection, transport, _ = open_connection(crash)
    connection.data_received(get() + get())
    await settle()
    assert transport.statuses() == [500]
    assert b'"code":"INTERNAL_SERVER_ERROR"' in transport.written
    assert transport.closed


def replying(status: int, headers: dict[str, str], body: bytes = b"") -> Handle:
    async def handle(request: IncomingRequest) -> Reply:
        await request.read_body(1024)
        return Answer(status, CIMultiDict(headers), body)

    return handle


async def test_answers_are_framed_by_the_connection_not_by_the_reply() -> None:
    """Content-Length and Server are the connection's; a reply's framing headers never go out."""
    headers = {"Content-Length": "999", "Transfer-Encoding": "chunked", "Connection": "upgrade", "X-A": "1"}
    headers["Server"] = "Apache/2.4.1 (Unix) Python/3.11"
    connection, transport, _ = open_connection(replying(200, headers, b"abc"))
    connection.data_received(get())
    await settle()
    head, _, body = bytes(transport.written).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")[1:]
    assert b"Content-Length: 3" in lines and b"X-A: 1" in lines
    assert [line for line in lines if line.lower().startswith(b"server")] == [b"Server: psd2-gateway"]
    assert not [line for line in lines if line.lower().startswith((b"transfer-encoding", b"connection"))]
    assert any(line.startswith(b"Date: ") for line in lines)
    assert body == b"abc"


async def test_head_gets_the_length_without_the_body_and_204_gets_neither() -> None:
    connection, transport, _ = open_connection(replying(200, {}, b"abc"))
    connection.data_received(b"HEAD /v1/accounts HTTP/1.1\r\nHost: bank\r\n\r\n")
    await settle()
    assert transport.written.endswith(b"Content-Length: 3\r\n\r\n")
    connection, transport, _ = open_connection(replying(204, {}, b"abc"))
    connection.data_received(get())
    await settle()
    assert b"Content-Length" not in transport.written and transport.written.endswith(b"\r\n\r\n")


async def test_a_header_value_that_would_split_the_answer_gives_500_instead() -> None:
    connection, transport, _ = open_connection(replying(200, {"X-A": "a\r\nSet-Cookie: x=1"}))
    connection.data_received(get())
    await settle()
    assert transport.statuses() == [500]
    assert b"Set-Cookie" not in transport.written and transport.closed


async def test_http10_keeps_the_connection_only_when_asked() -> None:
    seen: list[Seen] = []
    connection, transport, _ = open_connection(echo_handler(seen))
    connection.data_received(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    await settle()
    assert b"Connection: keep-alive" in transport.written and not transport.closed
    connection.data_received(b"GET /b HTTP/1.0\r\n\r\n")
    await settle()
    assert transport.written.count(b"Connection: close") == 1 and transport.closed


async def test_expect_100_continue_is_answered_before_the_body_is_read() -> None:
    seen: list[Seen] = []
    connection, transport, _ = open_connection(echo_handler(seen))
    connection.data_received(
        b"POST /p HTTP/1.1\r\nHost: b\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    )
    await settle()
    assert bytes(transport.written) == b"HTTP/1.1 100 Continue\r\n\r\n"
    connection.data_received(b"{}")
    await settle()
    assert transport.statuses() == [100, 200] and seen[0].body == b"{}"


async def test_body_over_the_limit_is_413_and_the_connection_closes_when_the_body_ends() -> None:
    seen: list[Seen] = []

    async def small(request: IncomingRequest) -> Reply:
        try:
            await request.read_body(10)
        except Exception as error:  # the Reject the pipeline would render
            return Answer(getattr(error, "status", 500), CIMultiDict(), b"")
        return Answer(200, CIMultiDict(), b"")

    connection, transport, _ = open_connection(small)
    connection.data_received(post(b"x" * 100)[:-50])
    await settle()
    assert transport.statuses() == [413] and not transport.closed  # lingering: the body is still coming
    connection.data_received(b"x" * 50)
    await settle()
    assert transport.closed and seen == []


async def test_drain_closes_idle_connections_and_lets_a_request_in_progress_finish() -> None:
    release = asyncio.Event()

    async def slow(request: IncomingRequest) -> Reply:
        await release.wait()
        return Answer(200, CIMultiDict(), b"done")

    busy, busy_transport, server = open_connection(slow)
    idle_slot = ConnectionLimits(server.settings, server.stats).admit("127.0.0.1")
    assert idle_slot is not None
    idle = server.connection(idle_slot)
    idle_transport = FakeTransport(idle)
    idle.connection_made(idle_transport)  # type: ignore[arg-type]
    busy.data_received(get())
    await settle()
    drained = asyncio.create_task(server.shutdown(5.0))
    await settle()
    assert idle_transport.closed and not busy_transport.closed
    release.set()
    await asyncio.wait_for(drained, 2.0)
    assert busy_transport.statuses() == [200]
    assert b"Connection: close" in busy_transport.written and busy_transport.closed


async def test_a_trailer_line_is_bounded_like_a_head_line() -> None:
    """Trailer fields are buffered by llhttp as head fields are: the same line limit applies."""
    seen: list[Seen] = []
    connection, transport, server = open_connection(echo_handler(seen))
    connection.data_received(
        b"POST /p HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: "
    )
    for _ in range(3):
        connection.data_received(b"a" * 65536)
    await settle()
    assert transport.statuses() == [400] and transport.closed
    assert server.stats.malformed_requests == 1


async def test_a_long_one_line_body_is_not_counted_as_the_next_head_line() -> None:
    seen: list[Seen] = []
    connection, transport, _ = open_connection(echo_handler(seen))
    connection.data_received(post(b"x" * 9000) + b"GET /v1/acc")
    connection.data_received(b"ounts HTTP/1.1\r\nHost: bank\r\n\r\n")
    await settle()
    assert [s.target for s in seen] == ["/v1/payments", "/v1/accounts"]
    assert transport.statuses() == [200, 200]


async def test_a_framing_refusal_closes_the_connection() -> None:
    """RFC 9112 6.1: after a Transfer-Encoding on HTTP/1.0 the message's end is unknown."""
    from gateway.errors import Reject
    from gateway.pipeline import check_framing

    async def framing(request: IncomingRequest) -> Reply:
        try:
            check_framing(request)
        except Reject as reject:
            return Answer(reject.status, CIMultiDict(), b"")
        return Answer(200, CIMultiDict(), b"")

    connection, transport, _ = open_connection(framing)
    connection.data_received(
        b"POST /p HTTP/1.0\r\nHost: b\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n"
    )
    await settle()
    assert transport.statuses() == [400] and transport.closed


async def test_queued_bodies_are_read_ahead_only_a_little() -> None:
    """While one request is handled, a pipelined request's body is read up to 64 KiB, then reading pauses."""
    release = asyncio.Event()

    async def slow(request: IncomingRequest) -> Reply:
        await release.wait()
        body = await request.read_body(1 << 20)
        return Answer(200, CIMultiDict(), str(len(body)).encode())

    connection, transport, _ = open_connection(slow)
    body = b"x" * (1 << 20)
    wire = post(body) + post(body)
    first = len(post(body))
    connection.data_received(wire[:first])
    offset = first
    while transport.paused == transport.resumed and offset < len(wire):
        connection.data_received(wire[offset : offset + 16384])
        offset += 16384
    assert transport.paused == transport.resumed + 1, "reading paused"
    assert offset - first < 128 * 1024, "at most a little of the queued body was read"
    release.set()
    await settle()
    assert transport.resumed == transport.paused  # the queued request is handled now: read on
    connection.data_received(wire[offset:])
    await settle(50)
    assert transport.statuses() == [200, 200]
    assert transport.written.endswith(str(len(body)).encode())


async def test_a_client_that_stops_reading_is_cut_off_after_the_idle_timeout() -> None:
    seen: list[Seen] = []
    connection, transport, _ = open_connection(echo_handler(seen), ProtectionSettings(idle_timeout_s=0.1))
    connection.pause_writing()  # the transport's buffer is over its high-water mark
    connection.data_received(get())
    await asyncio.sleep(0.3)
    assert transport.closed


async def test_100_continue_behind_a_slow_request_is_not_judged_slow() -> None:
    """The body-rate clock starts when 100 Continue is sent, not when the head arrives."""
    release = asyncio.Event()

    async def handler(request: IncomingRequest) -> Reply:
        if request.raw_path == "/slow":
            await release.wait()
        return Answer(200, CIMultiDict(), await request.read_body(1024))

    fast = ProtectionSettings(body_grace_s=0.2, body_min_rate_bps=10)
    connection, transport, _ = open_connection(handler, fast)
    connection.data_received(
        get("/slow") + b"POST /p HTTP/1.1\r\nHost: b\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"
    )
    await asyncio.sleep(0.5)
    release.set()
    await settle()
    assert transport.statuses() == [200, 100]
    connection.data_received(b"{}")
    await settle()
    assert transport.statuses() == [200, 100, 200] and not transport.closed


async def test_the_head_deadline_does_not_run_out_while_answers_are_still_going_out() -> None:
    release = asyncio.Event()

    async def slow(request: IncomingRequest) -> Reply:
        await release.wait()
        return Answer(200, CIMultiDict(), b"ok")

    connection, transport, server = open_connection(slow, ProtectionSettings(header_timeout_s=0.2))
    connection.data_received(b"".join(get(f"/v1/accounts/{i}") for i in range(8)) + b"GET /v1/acc")
    await asyncio.sleep(0.5)
    assert not transport.closed and server.stats.head_timeouts == 0
    release.set()
    await settle(50)
    assert transport.statuses() == [200] * 8
    await asyncio.sleep(0.4)  # now the client alone is late with the rest of its head
    assert transport.closed and server.stats.head_timeouts == 1
