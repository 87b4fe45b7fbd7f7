"""Header translation as data, in one documented order.

Towards the core (after hop-by-hop and gateway-owned headers are gone): ``remove`` ->
``rename`` -> ``set`` (always, overriding) -> ``default`` (only when absent). The gateway's
own identity headers are added after these, so no rule can forge them.
Towards the TPP: ``remove`` -> ``rename`` -> ``set`` -> ``echo`` (a request header's value
under a response name, e.g. Request-ID -> Response-ID) -> ``allow`` (when given, the only
headers the TPP may see, besides the gateway's own framing).

Values may use templates from the verified identity and the request: ``{tpp.organization_id}``,
``{tpp.name}``, ``{tpp.roles}``, ``{tpp.nca_id}``, ``{request.id}``, ``{route}``, ``{uuid}``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from multidict import CIMultiDict

from gateway.config import doc
from gateway.dialects import BerlinGroup, ProblemJson, read_any
from gateway.errors import Code, Reject

if TYPE_CHECKING:
    from gateway.exchange import Exchange
    from gateway.profiles import Profile

Template = Callable[["Exchange"], str]
FALLBACK_DIALECTS = (BerlinGroup(), ProblemJson())
_FIELD = re.compile(r"\{([a-z_.]+)\}")
_SOURCES: dict[str, Template] = {
    "tpp.organization_id": lambda ex: ex.identity.tpp.organization_id if ex.identity else "",
    "tpp.name": lambda ex: ex.identity.tpp.organization_name if ex.identity else "",
    "tpp.nca_id": lambda ex: ex.identity.tpp.nca_id if ex.identity else "",
    "tpp.roles": lambda ex: ",".join(sorted(r.value for r in ex.roles)),
    "request.id": lambda ex: ex.request_id,
    "route": lambda ex: ex.route.name if ex.route else "",
    "uuid": lambda _ex: str(uuid.uuid4()),
}


@dataclass(frozen=True)
class RequestRules:
    remove: list[str] = doc("Headers not passed to the core.", factory=list)
    rename: dict[str, str] = doc("TPP name -> core name.", factory=dict)
    set: dict[str, str] = doc("Headers always set (templates allowed).", factory=dict)
    default: dict[str, str] = doc("Headers set only when absent (templates allowed).", factory=dict)

    def __post_init__(self) -> None:
        for value in (*self.set.values(), *self.default.values()):
            compile_template(value)


@dataclass(frozen=True)
class ResponseRules:
    remove: list[str] = doc("Core headers the TPP does not see.", factory=list)
    rename: dict[str, str] = doc("Core name -> TPP name.", factory=dict)
    set: dict[str, str] = doc("Headers always set (templates allowed).", factory=dict)
    echo: dict[str, str] = doc("Request header -> response header carrying its value.", factory=dict)
    allow: list[str] = doc("When given, the only core headers passed to the TPP.", factory=list)

    def __post_init__(self) -> None:
        for value in self.set.values():
            compile_template(value)


@dataclass(frozen=True)
class HeaderRules:
    request: RequestRules = field(default_factory=RequestRules)
    response: ResponseRules = field(default_factory=ResponseRules)


def compile_template(text: str) -> Template:
    """A header value template, compiled once; unknown fields are configuration errors."""
    pieces: list[Template] = []
    last = 0
    for match in _FIELD.finditer(text):
        source = _SOURCES.get(match.group(1))
        if source is None:
            raise ValueError(
                f"unknown template field {{{match.group(1)}}} (known: {', '.join(sorted(_SOURCES))})"
            )
        pieces.extend((_literal(text[last : match.start()]), source))
        last = match.end()
    if not pieces:
        return _literal(text)
    pieces.append(_literal(text[last:]))
    return lambda ex: "".join(piece(ex) for piece in pieces)


class ResponseHeaders:
    def __init__(self, rules: ResponseRules) -> None:
        self.remove = tuple(rules.remove)
        self.rename = tuple(rules.rename.items())
        self.set = tuple((name, compile_template(v)) for name, v in rules.set.items())
        self.echo = tuple(rules.echo.items())
        self.allow = frozenset(name.lower() for name in rules.allow) if rules.allow else None

    def apply(self, headers: CIMultiDict[str], ex: Exchange) -> CIMultiDict[str]:
        for name in self.remove:
            headers.popall(name, None)
        _rename(headers, self.rename)
        if self.allow is not None:
            headers = CIMultiDict((k, v) for k, v in headers.items() if k.lower() in self.allow)
        for name, template in self.set:
            headers[name] = template(ex)
        for source, target in self.echo:
            echoed = ex.headers.get(source)
            if echoed is not None:
                headers[target] = echoed
        return headers

    def echo_into(self, headers: CIMultiDict[str], ex: Exchange) -> None:
        """Echo rules alone, for the gateway's own error answers."""
        for source, target in self.echo:
            echoed = ex.headers.get(source)
            if echoed is not None:
                headers[target] = echoed


def translate_core_error(profile: Profile, status: int, body: bytes, headers: CIMultiDict[str]) -> bytes:
    """A core's error re-rendered in the TPP's dialect; an unreadable body never passes through.

    Cores leak stack traces, host names and internal codes in error pages; only a recognised
    code and a cleaned text survive, and an unrecognised body becomes a generic answer.
    """
    found = read_any(body, (profile.core_dialect, *FALLBACK_DIALECTS))
    code = found.code if found is not None and found.code is not None else _generic_code(status)
    text = (
        found.text if found is not None and found.text else "The bank system could not process the request."
    )
    headers["Content-Type"] = profile.dialect.content_type
    return profile.dialect.render(Reject(code, text, status))


def _generic_code(status: int) -> Code:
    return {
        400: Code.FORMAT_ERROR,
        401: Code.CONSENT_INVALID,
        403: Code.SERVICE_BLOCKED,
        404: Code.RESOURCE_UNKNOWN,
        405: Code.SERVICE_INVALID,
        406: Code.REQUESTED_FORMATS_INVALID,
        409: Code.STATUS_INVALID,
        429: Code.ACCESS_EXCEEDED,
        503: Code.SERVICE_UNAVAILABLE,
    }.get(status, Code.FORMAT_ERROR if status < 500 else Code.INTERNAL_SERVER_ERROR)


def _rename(headers: CIMultiDict[str], pairs: tuple[tuple[str, str], ...]) -> None:
    for old, new in pairs:
        values = headers.popall(old, [])
        for value in values:
            headers.add(new, value)


def _literal(text: str) -> Template:
    return lambda _ex: text
