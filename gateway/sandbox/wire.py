"""Bytes in and out: Berlin Group error bodies, JSON responses, and the handler guard.

    SandboxError            one failed rule; carries status, BG message code and text
      └── rendered by guard()  as {"tppMessages":[{"category":"ERROR","code":...,"text":...}]}

Handlers raise ``SandboxError`` where a rule fails; ``guard`` renders it, echoes
``X-Request-ID`` and is the only wrapper a request passes through (no middleware).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.Response]]

JSON = "application/json"
MAX_BODY = 64 * 1024


class SandboxError(Exception):
    """A request stops here with a Berlin Group error body (codes per spec 1.3.11, section 14.11)."""

    def __init__(self, status: int, code: str, text: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {text}")
        self.status = status
        self.code = code
        self.text = text
        self.headers = headers or {}

    def response(self) -> web.Response:
        message = {"category": "ERROR", "code": self.code, "text": self.text}
        body = dump({"tppMessages": [message]})
        return web.Response(status=self.status, body=body, content_type=JSON, headers=self.headers)


def format_error(text: str) -> SandboxError:
    return SandboxError(400, "FORMAT_ERROR", text)


def dump(value: Any) -> bytes:
    """Compact JSON bytes; every body the sandbox sends goes through here once."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def reply(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=dump(value), content_type=JSON, headers=headers)


def reply_bytes(body: bytes, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body, content_type=JSON)


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 FORMAT_ERROR; never any other exception."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as e:
        raise SandboxError(413, "FORMAT_ERROR", f"body larger than {MAX_BODY} bytes") from e
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise format_error("body is not valid JSON") from e
    if not isinstance(body, dict):
        raise format_error("body must be a JSON object")
    return body


def guard(handler: Handler) -> Handler:
    """Render ``SandboxError`` as its BG body and echo ``X-Request-ID`` (spec 4.x: every response)."""

    async def guarded(request: web.Request) -> web.Response:
        try:
            response = await handler(request)
        except SandboxError as e:
            response = e.response()
        request_id = request.headers.get("X-Request-ID")
        if request_id is not None:
            response.headers["X-Request-ID"] = request_id
        return response

    guarded.__name__ = getattr(handler, "__name__", "handler")
    return guarded


async def fallback(request: web.Request) -> web.Response:
    """The last route: 405 SERVICE_INVALID when the path exists with other methods, else 404."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.canonical == "/{tail}":
            continue
        match, methods = await resource.resolve(request)
        if match is None:
            allowed |= methods
    if allowed:
        allow = ",".join(sorted(allowed))
        raise SandboxError(
            405, "SERVICE_INVALID", f"{request.method} not allowed; use {allow}", {"Allow": allow}
        )
    raise SandboxError(404, "RESOURCE_UNKNOWN", f"no resource at {request.path}")
