"""An answer to the TPP as HTTP/1.1 bytes: status line, headers, framing, body in one write.

The connection owns framing: ``Content-Length`` is always computed here, ``Server`` is always
the gateway's, and a reply's own framing, connection or Server headers are never copied (a
core or a profile cannot desynchronise the TPP's connection, nor name its software). A header
value that would break its line is refused as a whole: the caller answers 500 instead.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus

from multidict import CIMultiDict

_REASONS = {int(status): status.phrase for status in HTTPStatus}
# The connection's own: framing, and Server (never a core's, nor a Python or library version).
_OWN = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "server"})
_NO_BODY = frozenset({204, 304})


class UnsafeHeader(ValueError):
    """A header name or value would split the response head."""


class _HttpDate:
    """The ``Date`` header value, formatted once per second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second, self._value = second, formatdate(second, usegmt=True)
        return self._value


http_date = _HttpDate()


def encode_response(
    status: int,
    headers: CIMultiDict[str],
    body: bytes,
    *,
    keep_alive: bool,
    http10: bool = False,
    head_only: bool = False,
) -> bytes:
    """The response's bytes; ``UnsafeHeader`` when a name or value carries CR, LF or NUL."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n", "Server: psd2-gateway\r\n"]
    has_date = False
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in _OWN:
            continue
        if lowered == "date":
            has_date = True
        lines.append(f"{name}: {value}\r\n")
    if not has_date:
        lines.append(f"Date: {http_date.now()}\r\n")
    if status >= 200 and status not in _NO_BODY:
        lines.append(f"Content-Length: {len(body)}\r\n")
    else:
        body = b""
    if not keep_alive:
        lines.append("Connection: close\r\n")
    elif http10:
        lines.append("Connection: keep-alive\r\n")  # HTTP/1.0 closes unless told otherwise
    lines.append("\r\n")
    block = "".join(lines)
    # Exactly one CR and one LF per line, no NUL: a value from a core or a template cannot
    # add a header or a second response.
    if block.count("\n") != len(lines) or block.count("\r") != len(lines) or "\x00" in block:
        raise UnsafeHeader("a header name or value contains CR, LF or NUL")
    # Request headers are decoded as UTF-8 with surrogateescape: echoed values keep their bytes.
    try:
        head = block.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as e:
        raise UnsafeHeader("a header value cannot be encoded") from e
    return head if head_only else head + body
