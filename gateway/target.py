"""The request target: the exact path and query that are authorised and forwarded.

The same raw bytes are matched against routes and sent to the core, so no path trick
(``/a/../x``, ``%2e%2e``, ``//x``, ``%2F``) can be authorised on one path and served on
another: such targets are refused outright, before any routing. An absolute-form target
(``GET https://other/x``) keeps only its path and query: where a request goes is decided
by configuration, never by the client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from multidict import MultiDict, MultiDictProxy

from gateway.errors import Code, Reject

MAX_TARGET_LENGTH = 8192

# pchar of RFC 3986 plus "/" (path) and "?" "/" (query); percent-escapes are checked separately.
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$")
_SAFE_QUERY = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Encoded "/", "\", "." and NUL change meaning when a core decodes them: refuse them in paths.
_AMBIGUOUS_ESCAPE = re.compile(r"%(2[fFeE]|5[cC]|00)")


@dataclass(frozen=True, slots=True)
class Target:
    """A checked request target: ``path`` and ``query`` as received (still percent-encoded)."""

    path: str
    query: str

    @property
    def raw(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def query_params(self) -> MultiDictProxy[str]:
        return MultiDictProxy(MultiDict(parse_qsl(self.query, keep_blank_values=True)))


def parse_target(raw: str) -> Target:
    """Check a raw request target and split it; anything ambiguous is a 400 FORMAT_ERROR."""
    if len(raw) > MAX_TARGET_LENGTH:
        raise Reject(Code.FORMAT_ERROR, "The request target is too long.", status=414)
    if not raw.startswith("/"):
        raw = _origin_form(raw)
    path, _, query = raw.partition("?")
    query = query.partition("#")[0]
    # The escape checks need a "%", which most targets do not have.
    escapes = "%" in path and (_BAD_ESCAPE.search(path) or _AMBIGUOUS_ESCAPE.search(path))
    if not _SAFE_PATH.match(path) or escapes:
        raise _bad("The request path contains characters or escapes that are not allowed.")
    # A "." or ".." segment follows a "/": without "/." there is none, and no need to split.
    if "//" in path or ("/." in path and any(segment in (".", "..") for segment in path.split("/"))):
        raise _bad("The request path must not contain empty, '.' or '..' segments.")
    if not _SAFE_QUERY.match(query) or ("%" in query and _BAD_ESCAPE.search(query)):
        raise _bad("The query string contains characters or escapes that are not allowed.")
    return Target(path, query)


def _origin_form(raw: str) -> str:
    try:
        parts = urlsplit(raw)
    except ValueError as e:
        raise _bad("The request target is not a valid URL.") from e
    if parts.scheme not in ("http", "https") or not parts.path.startswith("/"):
        raise _bad("The request target must be a path or an absolute http(s) URL.")
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def _bad(text: str) -> Reject:
    return Reject(Code.FORMAT_ERROR, text, rule="request-target")
