"""A request head collected from llhttp's callbacks, within the limits llhttp does not know.

llhttp (strict) checks the syntax: tokens, CRLF, Content-Length and Transfer-Encoding rules.
The gateway adds its size limits and refuses a second value of a field that may occur once
(RFC 9110 5.3: two hops could each read a different one).
"""

from __future__ import annotations

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.http_request import IncomingRequest
from gateway.settings import ProtectionSettings

_SINGLETONS = frozenset(
    {b"content-length", b"content-location", b"content-range", b"content-type", b"etag", b"host"}
    | {b"max-forwards", b"server", b"transfer-encoding", b"user-agent"}
)
_VERSIONS = {"1.1": (1, 1), "1.0": (1, 0), "0.9": (0, 9), "2.0": (2, 0)}


class HeadRefused(Exception):
    """The request head breaks a limit of the gateway's."""


class HeadCollector:
    """``url`` and ``header`` are llhttp's ``on_url`` and ``on_header`` callbacks for one connection."""

    __slots__ = ("_headers", "_settings", "_singletons", "_url")

    def __init__(self, settings: ProtectionSettings) -> None:
        self._settings = settings
        self._url: list[bytes] = []
        self._headers: list[tuple[str, str]] = []
        self._singletons: set[bytes] = set()

    def begin(self) -> None:
        self._url.clear()
        self._headers = []
        self._singletons.clear()

    def url(self, part: bytes) -> None:
        self._url.append(part)

    def header(self, name: bytes, value: bytes) -> None:
        if len(self._headers) >= self._settings.max_headers:
            raise HeadRefused("too many header lines")
        if len(name) + len(value) > self._settings.max_header_bytes:
            raise HeadRefused("a header line is too long")
        lowered = name.lower()
        if lowered in _SINGLETONS:
            if lowered in self._singletons:
                raise HeadRefused("a header that may occur once occurs twice")
            self._singletons.add(lowered)
        # Names are tokens (llhttp checked); values keep any non-ASCII byte through surrogateescape.
        self._headers.append((name.decode("latin-1"), value.decode("utf-8", "surrogateescape")))

    def request(
        self,
        parser: httptools.HttpRequestParser,
        *,
        peer_ip: str,
        peer_certificate: bytes | None,
        body_limit: int,
    ) -> IncomingRequest:
        url = b"".join(self._url)
        if len(url) > self._settings.max_line_bytes:
            raise HeadRefused("the request line is too long")
        headers = CIMultiDict(self._headers)
        declared = headers.get("Content-Length")  # digits only: llhttp checked
        return IncomingRequest(
            parser.get_method().decode("ascii"),
            url.decode("utf-8", "surrogateescape"),
            _VERSIONS.get(parser.get_http_version(), (0, 0)),
            CIMultiDictProxy(headers),
            peer_ip=peer_ip,
            peer_certificate=peer_certificate,
            keep_alive=parser.should_keep_alive(),
            content_length=int(declared) if declared is not None else None,
            body_limit=body_limit,
        )
