"""The bank core behind the gateway: one method, ``send``, and a pooled keep-alive client.

The upstream URL is the configured base plus the request's checked path and query, so
neither an absolute-form target nor a ``Host`` header can change where a request goes.
Nothing is retried: a PSD2 payment initiation sent twice is two payments.

Why not aiohttp's ``ClientSession``: it was about 30% of the no-policy gateway's CPU
(``bench/README.md``), for cookie jars, redirects, tracing, URL objects and per-request
bookkeeping a proxy to one fixed core never uses. This client pools connections to one
origin and frames requests; parsing is llhttp's (``core_connection.py``).
"""

from __future__ import annotations

import asyncio
import re
import ssl
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from multidict import CIMultiDict, CIMultiDictProxy

from gateway.core_connection import CoreAnswer, CoreAnswerInvalid, CoreConnection
from gateway.errors import Code, Reject

_MAX_HEAD_BYTES = 64 * 1024
_MAX_FIELD_BYTES = 8190  # aiohttp's default line limit, kept
_KEEPALIVE_S = 30.0
_SWEEP_S = 0.05
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_FRAMING_NAMES = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_FORWARD, _HOST, _FRAMING = "forward", "host", "framing"  # what _encode does with a header
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CHECKED_NAMES_MAX = 4096


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    target: str
    headers: Sequence[tuple[str, str]]  # in order, repeats allowed; framing is the client's own
    body: bytes
    connect_timeout_s: float | None = None  # per-route overrides of the core's defaults
    total_timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


class Upstream(Protocol):
    """Where forwarded requests go; failures are ``Reject`` with 502 or 504."""

    async def send(self, request: UpstreamRequest) -> UpstreamResponse: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class HttpUpstreamConfig:
    base_url: str
    connect_timeout_s: float = 2.0
    total_timeout_s: float = 20.0
    max_connections: int = 256
    max_response_bytes: int = 16 * 1024 * 1024
    ssl_context: ssl.SSLContext | None = None


class HttpUpstream:
    """A keep-alive connection pool to one core (http or https), created lazily in the running loop."""

    def __init__(self, config: HttpUpstreamConfig) -> None:
        self.config = config
        parts = urlsplit(config.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unsupported core URL: {config.base_url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = parts.path.rstrip("/")
        default_port = parts.port is None or parts.port == (443 if self.tls else 80)
        name = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = name if default_port else f"{name}:{self.port}"
        self.ssl_context = config.ssl_context or (ssl.create_default_context() if self.tls else None)
        self._idle: list[CoreConnection] = []  # most recently used last
        self._slots: asyncio.Semaphore | None = None
        self._name_kinds: dict[str, str] = {}  # header name -> _FORWARD, _HOST or _FRAMING
        self._in_flight: dict[CoreConnection, float] = {}  # -> deadline (loop time)
        self._sweeper: asyncio.TimerHandle | None = None

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        data = self._encode(request)
        total = request.total_timeout_s or self.config.total_timeout_s
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.config.max_connections)
        async with self._slots:
            deadline = asyncio.get_running_loop().time() + total
            try:
                connection = await self._connection(request.connect_timeout_s, deadline)
                answer = await self._exchange(connection, data, request.method == "HEAD", deadline)
                return self._response(answer)
            except _ConnectTimeout as e:
                raise Reject(
                    Code.GATEWAY_TIMEOUT, "The bank system did not accept the connection in time."
                ) from e
            except TimeoutError as e:
                raise Reject(Code.GATEWAY_TIMEOUT, "The bank system did not answer in time.") from e
            except (OSError, CoreAnswerInvalid, zlib.error) as e:
                raise Reject(
                    Code.BAD_GATEWAY, "The bank system could not be reached or answered badly."
                ) from e

    async def _exchange(
        self, connection: CoreConnection, data: bytes, head_only: bool, deadline: float
    ) -> CoreAnswer:
        self._in_flight[connection] = deadline
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(_SWEEP_S, self._sweep)
        try:
            answer = await connection.send(data, head_only=head_only)
        except BaseException:
            connection.abort()  # also on timeout or cancellation: the core sees the request end
            raise
        finally:
            del self._in_flight[connection]
        if connection.reusable:
            connection.idle_since = asyncio.get_running_loop().time()
            self._idle.append(connection)
        else:
            connection.abort()
        return answer

    def _sweep(self) -> None:
        """Time out answers past their deadline.

        One timer for all requests in flight, rather than an ``asyncio.timeout`` (a timer set
        and cancelled) per request: the deadline is met to within ``_SWEEP_S``, never early.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        for connection, deadline in list(self._in_flight.items()):
            if now >= deadline:
                connection.time_out()
        self._sweeper = loop.call_later(_SWEEP_S, self._sweep) if self._in_flight else None

    async def _connection(self, connect_timeout_s: float | None, deadline: float) -> CoreConnection:
        loop = asyncio.get_running_loop()
        fresh_after = loop.time() - _KEEPALIVE_S
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and connection.idle_since > fresh_after:
                return connection
            connection.abort()
        connect_s = min(connect_timeout_s or self.config.connect_timeout_s, deadline - loop.time())
        try:
            async with asyncio.timeout(connect_s):
                _, connection = await loop.create_connection(
                    self._new_connection,
                    self.host,
                    self.port,
                    ssl=self.ssl_context,
                    server_hostname=self.host if self.tls else None,
                )
        except TimeoutError as e:
            raise _ConnectTimeout from e
        return connection

    def _new_connection(self) -> CoreConnection:
        return CoreConnection(
            max_head_bytes=_MAX_HEAD_BYTES,
            max_field_bytes=_MAX_FIELD_BYTES,
            max_body_bytes=self.config.max_response_bytes,
        )

    def _encode(self, request: UpstreamRequest) -> bytes:
        host = self.host_header
        request_line = f"{request.method} {self.prefix}{request.target} HTTP/1.1\r\n"
        lines = [request_line, ""]  # the Host line is known after the headers
        kinds = self._name_kinds
        for name, value in request.headers:
            kind = kinds.get(name) or self._classify(name)
            if kind == _FORWARD:
                lines.append(f"{name}: {value}\r\n")
            elif kind == _HOST:
                host = value  # a profile may name the core's virtual host
            # _FRAMING: framing is this client's own
        lines[1] = f"Host: {host}\r\n"
        block = "".join(lines)
        # One line per header and a request line of three parts: no value or target may break
        # a line or hide a NUL (a translated or templated value could otherwise add a header
        # of its own to the core's request).
        if (
            block.count("\n") != len(lines)
            or block.count("\r") != len(lines)
            or "\x00" in block
            or request_line.count(" ") != 2
        ):
            raise Reject(Code.BAD_GATEWAY, "A header for the bank system is malformed.")
        with_length = request.body or request.method in _WITH_BODY
        length = f"Content-Length: {len(request.body)}\r\n" if with_length else ""
        return f"{block}{length}\r\n".encode("utf-8", "surrogateescape") + request.body

    def _classify(self, name: str) -> str:
        """What ``_encode`` does with a header name; names are tokens (RFC 9110 5.1).

        Remembered per spelling, up to a bound: the same few names come on every request.
        """
        if _TOKEN.fullmatch(name) is None:
            raise Reject(Code.BAD_GATEWAY, "A header for the bank system is malformed.")
        lowered = name.lower()
        kind = _FORWARD if lowered not in _FRAMING_NAMES else _HOST if lowered == "host" else _FRAMING
        if len(self._name_kinds) < _CHECKED_NAMES_MAX:
            self._name_kinds[name] = kind
        return kind

    def _response(self, answer: CoreAnswer) -> UpstreamResponse:
        headers: CIMultiDict[str] = CIMultiDict()
        coding = b""
        for name, value in answer.headers:
            if name.lower() == b"content-encoding":
                coding = value.strip().lower()
            headers.add(name.decode("ascii", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        body = answer.body if coding in (b"", b"identity") else self._decoded(coding, answer.body)
        return UpstreamResponse(answer.status, CIMultiDictProxy(headers), body)

    def _decoded(self, coding: bytes, body: bytes) -> bytes:
        """gzip and deflate, bounded (a small bomb must not become a large body); nothing else."""
        if coding in (b"gzip", b"x-gzip"):
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == b"deflate":
            inflater = zlib.decompressobj(zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS)
        else:
            raise CoreAnswerInvalid(f"unsupported content coding {coding!r}")
        limit = self.config.max_response_bytes
        out = inflater.decompress(body, limit + 1)
        if len(out) > limit:
            raise CoreAnswerInvalid("The bank system's answer is too large.")
        return out

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.abort()


class _ConnectTimeout(Exception):
    pass
