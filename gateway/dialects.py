"""Error dialects: how a rejection looks to the TPP, and how a core's error is read back.

* ``berlin-group``: ``{"tppMessages":[{"category":"ERROR","code":...,"text":...}]}`` (NextGenPSD2
  1.3.11 section 14.11), the default;
* ``problem-json``: RFC 7807 ``application/problem+json`` with the Berlin Group ``code``
  (the spec's other error variant: ``type``, ``title``, ``detail``, ``code``);
* ``belfius``: ``{"error","error_code","error_description"}`` (seed 002).

``codes`` maps Berlin Group codes to a dialect's own values both ways, so the same rule can
answer ``ACCESS_EXCEEDED`` to one TPP and ``too_many_requests`` to another.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal, Protocol

from gateway.errors import Code, Reject

DialectName = Literal["berlin-group", "problem-json", "belfius"]
_MAX_TEXT = 512  # tppMessageText maxLength in the specification


@dataclass(frozen=True, slots=True)
class CoreError:
    """What a core's error body says, once read: a Berlin Group code (if known) and a text."""

    code: Code | None
    text: str


class Dialect(Protocol):
    content_type: str

    def render(self, reject: Reject) -> bytes: ...

    def read(self, body: Any) -> CoreError | None: ...


class BerlinGroup:
    content_type = "application/json"

    def render(self, reject: Reject) -> bytes:
        message: dict[str, str] = {
            "category": "ERROR",
            "code": reject.code.value,
            "text": _clean(reject.text),
        }
        if reject.path:
            message["path"] = reject.path
        return _dump({"tppMessages": [message]})

    def read(self, body: Any) -> CoreError | None:
        messages = body.get("tppMessages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
            return None
        return CoreError(_code(messages[0].get("code")), _clean(messages[0].get("text")))


class ProblemJson:
    content_type = "application/problem+json"

    def render(self, reject: Reject) -> bytes:
        title = (
            HTTPStatus(reject.status).phrase if reject.status in HTTPStatus._value2member_map_ else "Error"
        )
        problem = {
            "type": f"https://berlin-group.org/psd2/errors/{reject.code.value}",
            "title": title,
            "status": reject.status,
            "detail": _clean(reject.text),
            "code": reject.code.value,
        }
        return _dump(problem)

    def read(self, body: Any) -> CoreError | None:
        if not isinstance(body, dict) or "code" not in body or ("detail" not in body and "title" not in body):
            return None
        return CoreError(_code(body.get("code")), _clean(body.get("detail") or body.get("title")))


class Belfius:
    """Belfius-style errors; ``codes`` gives each Berlin Group code its ``error``/``error_code``."""

    content_type = "application/json"

    def __init__(self, codes: Mapping[str, Mapping[str, str]]) -> None:
        self.codes = codes
        self.reverse = {(m.get("error"), m.get("error-code")): Code(bg) for bg, m in codes.items()}

    def render(self, reject: Reject) -> bytes:
        mapped = self.codes.get(reject.code.value, {})
        body = {
            "error": mapped.get("error", reject.code.value.lower()),
            "error_code": mapped.get("error-code", reject.code.value),
            "error_description": _clean(reject.text),
        }
        return _dump(body)

    def read(self, body: Any) -> CoreError | None:
        if not isinstance(body, dict) or "error" not in body:
            return None
        key = (body.get("error"), body.get("error_code"))
        code = (
            self.reverse.get(key)
            or _code(body.get("error_code"))
            or _code(str(body.get("error", "")).upper())
        )
        return CoreError(code, _clean(body.get("error_description")))


def make_dialect(name: DialectName, codes: Mapping[str, Mapping[str, str]] | None = None) -> Dialect:
    if name == "problem-json":
        return ProblemJson()
    if name == "belfius":
        return Belfius(codes or {})
    return BerlinGroup()


def read_any(body: bytes, dialects: tuple[Dialect, ...]) -> CoreError | None:
    """The first dialect that recognises a core's error body."""
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, RecursionError):
        return None
    for dialect in dialects:
        found = dialect.read(parsed)
        if found is not None:
            return found
    return None


def _code(value: Any) -> Code | None:
    try:
        return Code(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _clean(text: Any) -> str:
    """Printable text only, bounded: a core's message may not smuggle markup or line breaks."""
    if not isinstance(text, str):
        return ""
    return "".join(ch if ch.isprintable() else " " for ch in text)[:_MAX_TEXT]


def _dump(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
