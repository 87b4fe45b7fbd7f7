"""Core faults: refused, too slow, reset mid-body, hostile answers. The TPP gets a clean 502/504.

Nothing of a bad answer (its headers, its body) reaches the TPP, a truncated body is never
passed off as a 200, and a payment initiation is never sent twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from support.gateway_fixtures import StartGateway
from support.pki import Pem, TestPki

from gateway.settings import UpstreamSettings
from resilience.misbehaving_core import (
    LEAK,
    Answer,
    MisbehavingCore,
    answer,
    close_before_answering,
    hold_until_hung_up,
    reset_mid_body,
    response,
)
from resilience.wire import PAYMENT, PAYMENT_BODY, exchange, rid, statuses_of

pytestmark = pytest.mark.resilience

TOTAL_TIMEOUT_S = 1.0
MAX_RESPONSE_BYTES = 64 * 1024
OK_JSON = ["Content-Type: application/json"]


def payment() -> bytes:
    head = PAYMENT.replace("{rid}", rid()) + "Content-Type: application/json\r\n"
    return (
        head + f"Content-Length: {len(PAYMENT_BODY)}\r\nConnection: close\r\n\r\n"
    ).encode() + PAYMENT_BODY


@pytest.fixture
async def bad_core() -> AsyncIterator[MisbehavingCore]:
    core = await MisbehavingCore().start()
    yield core
    await core.close()


async def gateway_port(start: StartGateway, url: str) -> int:
    upstream = UpstreamSettings(
        url=url, connect_timeout_s=0.5, total_timeout_s=TOTAL_TIMEOUT_S, max_response_bytes=MAX_RESPONSE_BYTES
    )
    return (await start(url, upstream=upstream)).port


def assert_clean_error(answer_bytes: bytes, status: int) -> None:
    assert statuses_of(answer_bytes) == [status], answer_bytes[:400]
    code = "BAD_GATEWAY" if status == 502 else "GATEWAY_TIMEOUT"
    assert f'"code":"{code}"'.encode() in answer_bytes
    assert LEAK.encode() not in answer_bytes and b"X-Core" not in answer_bytes


async def test_refused_connection_is_502(start: StartGateway, pki: TestPki, tpp: Pem) -> None:
    """Nothing listening at the core's address: 502 BAD_GATEWAY."""
    gone = await MisbehavingCore().start()
    await gone.close()
    port = await gateway_port(start, gone.url)
    assert_clean_error(await exchange(port, pki.client_context(tpp), payment()), 502)


async def test_core_slower_than_the_total_timeout_is_504_and_the_request_is_cancelled(
    start: StartGateway, bad_core: MisbehavingCore, pki: TestPki, tpp: Pem
) -> None:
    """504 after upstream total-timeout-s, and the core sees the connection closed: nothing left running."""
    bad_core.behaviour = hold_until_hung_up
    port = await gateway_port(start, bad_core.url)
    started = time.monotonic()
    assert_clean_error(await exchange(port, pki.client_context(tpp), payment()), 504)
    assert TOTAL_TIMEOUT_S - 0.1 <= time.monotonic() - started < TOTAL_TIMEOUT_S + 1.0
    async with asyncio.timeout(3):
        while not bad_core.hung_up:  # noqa: ASYNC110 - polling a list the core appends to
            await asyncio.sleep(0.02)
    (hung_up,) = bad_core.hung_up
    assert hung_up - started < TOTAL_TIMEOUT_S + 1.0
    assert len(bad_core.seen) == 1, "never retried"


CL_1000 = ["Content-Length: 1000"]
HOSTILE: dict[str, Answer] = {
    "reset mid-body": reset_mid_body,
    "closed before answering": close_before_answering,
    "closed mid-body": answer(response("HTTP/1.1 200 OK", CL_1000, LEAK.encode() * 10)),
    "oversized header": answer(response("HTTP/1.1 200 OK", [f"X-Big: {'b' * 100_000}", *OK_JSON], b"{}")),
    "CR in header value": answer(
        response("HTTP/1.1 200 OK", ["X-Evil: a\rSet-Cookie: pwned=1", *OK_JSON], b"{}")
    ),
    "NUL in header value": answer(response("HTTP/1.1 200 OK", ["X-Evil: a\x00b", *OK_JSON], b"{}")),
    "CL + TE": answer(
        response(
            "HTTP/1.1 200 OK", ["Content-Length: 2", "Transfer-Encoding: chunked"], b"2\r\n{}\r\n0\r\n\r\n"
        )
    ),
    "two Content-Lengths": answer(
        response("HTTP/1.1 200 OK", ["Content-Length: 2", "Content-Length: 3"], b"{}x")
    ),
    "bad chunk size": answer(
        response("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"], b"zz\r\n{}\r\n0\r\n\r\n")
    ),
    "status 2000": answer(response("HTTP/1.1 2000 OK", ["Content-Length: 2"], b"{}")),
    "not HTTP": answer(response("HTTX/1.1 200 OK", ["Content-Length: 2"], b"{}")),
    "garbage": answer(b"\x16\x03\x01" + LEAK.encode() + b"\r\n\r\n"),
    "body over the limit, declared": answer(
        response(
            "HTTP/1.1 200 OK", [f"Content-Length: {MAX_RESPONSE_BYTES + 1}"], b"x" * (MAX_RESPONSE_BYTES + 1)
        )
    ),
    "body over the limit, chunked": answer(
        response(
            "HTTP/1.1 200 OK",
            ["Transfer-Encoding: chunked"],
            (b"4000\r\n" + b"x" * 0x4000 + b"\r\n") * 5 + b"0\r\n\r\n",
        )
    ),
    "body over the limit, until close": answer(
        response("HTTP/1.1 200 OK", [], b"x" * (MAX_RESPONSE_BYTES * 2))
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_core_answer_is_a_clean_502_and_never_retried(
    start: StartGateway, bad_core: MisbehavingCore, pki: TestPki, tpp: Pem, name: str
) -> None:
    """A broken or hostile answer is a 502 with nothing of the core's; the payment reached it once."""
    bad_core.behaviour = HOSTILE[name]
    port = await gateway_port(start, bad_core.url)
    assert_clean_error(await exchange(port, pki.client_context(tpp), payment()), 502)
    assert len(bad_core.seen) == 1, "a payment initiation is never retried"


async def test_folded_core_header_is_unfolded_into_one_value(
    start: StartGateway, bad_core: MisbehavingCore, pki: TestPki, tpp: Pem
) -> None:
    """obs-fold in a core answer is joined with a space (RFC 9112 5.2): it cannot add a header line."""
    folded = ["X-Evil: a", " Set-Cookie: pwned=1", *OK_JSON]
    bad_core.behaviour = answer(response("HTTP/1.1 200 OK", folded, b"{}"))
    port = await gateway_port(start, bad_core.url)
    answered = await exchange(port, pki.client_context(tpp), payment())
    assert statuses_of(answered) in ([200], [502])
    assert b"\r\nSet-Cookie" not in answered
