"""The lean keep-alive client to the core (``gateway/upstream.py``, ``gateway/core_connection.py``).

A scripted core on loopback answers each request with bytes the test chooses and records what
it received and on which connection, so reuse, framing and limits are checked on the wire.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from support.loopback import LoopbackServer

from gateway.errors import Reject
from gateway.upstream import HttpUpstream, HttpUpstreamConfig, UpstreamRequest

Script = Callable[[bytes], bytes | None]  # request head + body -> raw answer (None: hang up)


def ok(body: bytes = b"{}", *headers: str) -> bytes:
    head = "\r\n".join(["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers])
    return (head + "\r\n\r\n").encode() + body


@dataclass
class ScriptedCore(LoopbackServer):
    script: Script = lambda _: ok()
    requests: list[tuple[int, bytes]] = field(default_factory=list)  # (connection number, request)
    connections: int = 0
    close_after_answer: bool = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                self.requests.append((number, request))
                answer = self.script(request)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
                if self.close_after_answer:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def core() -> AsyncIterator[ScriptedCore]:
    server = await ScriptedCore().start()
    yield server
    await server.close()


@pytest.fixture
async def client(core: ScriptedCore) -> AsyncIterator[HttpUpstream]:
    upstream = HttpUpstream(
        HttpUpstreamConfig(core.url + "/core", total_timeout_s=2.0, max_response_bytes=4096)
    )
    yield upstream
    await upstream.close()


def get(target: str = "/v1/accounts", **headers: str) -> UpstreamRequest:
    return UpstreamRequest("GET", target, list(headers.items()), b"")


async def test_keep_alive_reuses_one_connection_and_frames_each_request(
    core: ScriptedCore, client: HttpUpstream
) -> None:
    for n in range(5):
        response = await client.send(UpstreamRequest("POST", f"/p?n={n}", [("A", "1")], b"xyz"))
        assert (response.status, response.body) == (200, b"{}")
    assert core.connections == 1
    first = core.requests[0][1]
    assert first.startswith(b"POST /core/p?n=0 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nA: 1\r\n" in first
    assert first.endswith(b"\r\nContent-Length: 3\r\n\r\nxyz")


async def test_get_without_body_sends_no_content_length_and_empty_post_sends_zero(
    core: ScriptedCore, client: HttpUpstream
) -> None:
    await client.send(get())
    await client.send(UpstreamRequest("POST", "/p", [], b""))
    assert b"content-length" not in core.requests[0][1].lower()
    assert b"\r\nContent-Length: 0\r\n" in core.requests[1][1]


async def test_framing_headers_from_a_profile_never_reach_the_core(
    core: ScriptedCore, client: HttpUpstream
) -> None:
    headers = [("Transfer-Encoding", "chunked"), ("Content-Length", "99"), ("Connection", "close")]
    await client.send(UpstreamRequest("POST", "/p", headers, b"ab"))
    sent = core.requests[0][1].lower()
    assert b"transfer-encoding" not in sent and b"connection" not in sent
    assert sent.count(b"content-length") == 1 and b"content-length: 2\r\n" in sent


@pytest.mark.parametrize("value", ["a\r\nX-Evil: 1", "a\nb", "a\x00b"])
async def test_a_header_value_that_would_add_a_line_is_refused_before_sending(
    core: ScriptedCore, client: HttpUpstream, value: str
) -> None:
    with pytest.raises(Reject) as raised:
        await client.send(get(**{"X-Bank": value}))
    assert raised.value.status == 502
    assert core.requests == []


async def test_a_profile_may_name_the_core_host(core: ScriptedCore, client: HttpUpstream) -> None:
    await client.send(get(Host="core.bank.internal"))
    assert b"\r\nHost: core.bank.internal\r\n" in core.requests[0][1]
    assert core.requests[0][1].count(b"Host:") == 1


async def test_connection_close_answer_is_not_reused(core: ScriptedCore, client: HttpUpstream) -> None:
    core.script = lambda _: ok(b"{}", "Connection: close")
    await client.send(get())
    await client.send(get())
    assert core.connections == 2


async def test_close_delimited_body_is_complete_on_a_clean_close(
    core: ScriptedCore, client: HttpUpstream
) -> None:
    core.script = lambda _: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + b'{"a":1}'
    core.close_after_answer = True
    response = await client.send(get())
    assert response.body == b'{"a":1}'


async def test_gzip_answer_is_decoded_and_a_bomb_is_refused(core: ScriptedCore, client: HttpUpstream) -> None:
    core.script = lambda _: ok(gzip.compress(b'{"ok":true}'), "Content-Encoding: gzip")
    assert (await client.send(get())).body == b'{"ok":true}'
    core.script = lambda _: ok(zlib.compress(b"[]"), "Content-Encoding: deflate")
    assert (await client.send(get())).body == b"[]"
    core.script = lambda _: ok(gzip.compress(b"0" * 100_000), "Content-Encoding: gzip")
    with pytest.raises(Reject) as raised:
        await client.send(get())
    assert raised.value.status == 502


async def test_unknown_content_coding_is_502(core: ScriptedCore, client: HttpUpstream) -> None:
    core.script = lambda _: ok(b"xx", "Content-Encoding: br")
    with pytest.raises(Reject):
        await client.send(get())


async def test_interim_answer_is_skipped(core: ScriptedCore, client: HttpUpstream) -> None:
    core.script = lambda _: b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"[1]")
    response = await client.send(get())
    assert (response.status, response.body) == (200, b"[1]")


async def test_head_answer_ends_at_its_head(core: ScriptedCore, client: HttpUpstream) -> None:
    core.script = lambda _: b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"
    response = await client.send(UpstreamRequest("HEAD", "/x", [], b""))
    assert (response.status, response.body, response.headers["Content-Length"]) == (200, b"", "50")


async def test_bytes_after_a_no_content_answer_drop_the_connection(
    core: ScriptedCore, client: HttpUpstream
) -> None:
    core.script = lambda _: b"HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\n{}"
    # llhttp ignores a 204's declared length; the two bytes are then unsolicited and the
    # connection is dropped rather than reused.
    response = await client.send(get())
    assert response.status == 204 and response.body == b""
    core.script = lambda _: ok()
    await client.send(get())
    assert core.connections == 2


async def test_a_second_answer_in_the_same_bytes_drops_the_connection(
    core: ScriptedCore, client: HttpUpstream
) -> None:
    """An answer nobody asked for, right behind the real one, neither joins it nor survives."""
    core.script = lambda _: ok(b"[1]") + ok(b"[2]", "X-Injected: yes")
    response = await client.send(get())
    assert (response.body, "X-Injected" in response.headers) == (b"[1]", False)
    core.script = lambda _: ok()
    await client.send(get())
    await client.send(get())
    assert core.connections == 2  # the second answer's connection only


async def test_answer_over_the_limit_is_502(core: ScriptedCore, client: HttpUpstream) -> None:
    core.script = lambda _: ok(b"x" * 5000)
    with pytest.raises(Reject) as raised:
        await client.send(get())
    assert raised.value.status == 502


async def test_idle_connection_closed_by_the_core_is_not_used(
    core: ScriptedCore, client: HttpUpstream
) -> None:
    core.script = lambda _: ok()
    await client.send(get())
    core.script = lambda _: None  # the next request on that connection makes the core hang up
    with pytest.raises(Reject):
        await client.send(get())
    core.script = lambda _: ok()
    assert (await client.send(get())).status == 200
    assert core.connections == 2


async def test_concurrency_is_capped_by_max_connections(core: ScriptedCore) -> None:
    upstream = HttpUpstream(HttpUpstreamConfig(core.url, max_connections=3))
    try:
        answers = await asyncio.gather(*(upstream.send(get()) for _ in range(20)))
        assert {a.status for a in answers} == {200}
        assert core.connections <= 3
    finally:
        await upstream.close()


async def test_unreachable_core_is_502_and_slow_core_is_504(core: ScriptedCore) -> None:
    await core.close()
    gone = HttpUpstream(HttpUpstreamConfig(core.url))
    with pytest.raises(Reject) as raised:
        await gone.send(get())
    assert raised.value.status == 502
    slow = await ScriptedCore(script=lambda _: b"").start()  # reads the request, never answers
    upstream = HttpUpstream(HttpUpstreamConfig(slow.url, total_timeout_s=0.3))
    try:
        with pytest.raises(Reject) as raised:
            await upstream.send(get())
        assert raised.value.status == 504
    finally:
        await upstream.close()
        await slow.close()


def test_core_url_must_be_http() -> None:
    with pytest.raises(ValueError):
        HttpUpstream(HttpUpstreamConfig("ftp://core"))
    assert HttpUpstream(HttpUpstreamConfig("https://[::1]/")).host_header == "[::1]"
    assert HttpUpstream(HttpUpstreamConfig("http://core:8080/base/")).prefix == "/base"


def test_keep_alive_under_uvloop() -> None:
    """The gateway runs on uvloop, whose transports are not asyncio's classes: the same client works there."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> tuple[list[int], int]:
        server = await ScriptedCore().start()
        upstream = HttpUpstream(HttpUpstreamConfig(server.url))
        try:
            statuses = [(await upstream.send(get())).status for _ in range(3)]
            return statuses, server.connections
        finally:
            await upstream.close()
            await server.close()

    assert uvloop.run(scenario()) == ([200, 200, 200], 1)


@pytest.mark.parametrize("name", ["X Bank", "X:Bank", "", "X-Bänk"])
async def test_a_header_name_that_is_not_a_token_is_refused(
    core: ScriptedCore, client: HttpUpstream, name: str
) -> None:
    with pytest.raises(Reject):
        await client.send(get(**{name: "v"}))
    assert core.requests == []


@pytest.mark.parametrize("target", ["/a b", "/a\r\nX-Evil: 1", "/a\x00"])
async def test_a_target_that_would_break_the_request_line_is_refused(
    core: ScriptedCore, client: HttpUpstream, target: str
) -> None:
    with pytest.raises(Reject):
        await client.send(get(target))
    assert core.requests == []
