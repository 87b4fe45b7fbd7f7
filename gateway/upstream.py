"""The bank core behind the gateway: one method, ``send``, and a pooled keep-alive client.

The upstream URL is the configured base plus the request's checked path and query, so
neither an absolute-form target nor a ``Host`` header can change where a request goes.
Nothing is retried: a PSD2 payment initiation sent twice is two payments.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from gateway.errors import Code, Reject

_READ_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    target: str
    headers: CIMultiDict[str]
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
    """An aiohttp client session to one core, created on first use inside the running loop."""

    def __init__(self, config: HttpUpstreamConfig) -> None:
        self.config = config
        self.base = config.base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(
            total=config.total_timeout_s, sock_connect=config.connect_timeout_s
        )
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.config.max_connections,
                ssl=self.config.ssl_context if self.config.ssl_context is not None else True,
                keepalive_timeout=30,
            )
            # No cookie jar: a gateway must not carry one TPP's cookies into another's request.
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self.timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        url = URL(self.base + request.target, encoded=True)
        try:
            async with self._client().request(
                request.method,
                url,
                headers=request.headers,
                data=request.body if request.body or request.method in ("POST", "PUT", "PATCH") else None,
                allow_redirects=False,
                timeout=self._timeout(request),
            ) as response:
                body = await self._read_bounded(response)
                return UpstreamResponse(response.status, response.headers, body)
        except aiohttp.ConnectionTimeoutError as e:
            raise Reject(
                Code.GATEWAY_TIMEOUT, "The bank system did not accept the connection in time."
            ) from e
        except TimeoutError as e:
            raise Reject(Code.GATEWAY_TIMEOUT, "The bank system did not answer in time.") from e
        except (aiohttp.ClientError, ValueError) as e:
            raise Reject(Code.BAD_GATEWAY, "The bank system could not be reached or answered badly.") from e

    def _timeout(self, request: UpstreamRequest) -> aiohttp.ClientTimeout:
        if request.connect_timeout_s is None and request.total_timeout_s is None:
            return self.timeout
        return aiohttp.ClientTimeout(
            total=request.total_timeout_s or self.config.total_timeout_s,
            sock_connect=request.connect_timeout_s or self.config.connect_timeout_s,
        )

    async def _read_bounded(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.config.max_response_bytes
        if response.content_length is not None and response.content_length > limit:
            raise Reject(Code.BAD_GATEWAY, "The bank system's answer is too large.")
        chunks: list[bytes] = []
        size = 0
        while chunk := await response.content.read(_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise Reject(Code.BAD_GATEWAY, "The bank system's answer is too large.")
            chunks.append(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
