"""draft-cavage-http-signatures (versions 10 and 12): the ``Signature`` header Berlin Group 1.3 uses.

The parser is strict and total: ``auth-param`` list syntax of RFC 7235 section 2.1 (token BWS "="
BWS (token / quoted-string)), any order, duplicate parameters rejected, parameters the draft does
not define ignored (draft-cavage-12 section 2.2: "Any parameter that is not recognized as a
parameter ... MUST be ignored"). Anything else raises ``SignatureProblem``.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from gateway.signatures.errors import ProblemKind, SignatureProblem

MAX_HEADER_LENGTH = 8192
# draft-cavage-10 section 2.1.6: without ``headers`` only ``date`` is signed. (Draft 12 changed
# the default to ``(created)``; Berlin Group 1.3 references the earlier behaviour.)
DEFAULT_HEADERS = ("date",)

# RFC 7235 auth-param; the quoted-string is the unrolled-loop form, linear and fast on 350-byte values.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(rf'[ \t]*({_TOKEN})[ \t]*=[ \t]*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|({_TOKEN}))[ \t]*')
# The text around quoted values (see _split_quoted): before the first, between two, after the last.
_FIRST_NAME = re.compile(rf"[ \t]*({_TOKEN})[ \t]*=[ \t]*")
_NEXT_NAME = re.compile(rf"[ \t]*,[ \t]*({_TOKEN})[ \t]*=[ \t]*")
_BLANK = re.compile(r"[ \t]*")
_QUOTED_PAIR = re.compile(r"\\(.)")

# dict[str, str], dict[str, list[str]] and aiohttp's CIMultiDictProxy (whose items() repeats names).
HeaderSource = Mapping[str, str | Sequence[str]]


class CavageSignature(NamedTuple):
    """A parsed ``Signature`` header (a tuple: built on every request, ~4x cheaper than a dataclass)."""

    key_id: str
    algorithm: str | None
    headers: tuple[str, ...]
    signature: bytes
    created: int | None = None
    expires: int | None = None


def _malformed(header: str, text: str) -> SignatureProblem:
    return SignatureProblem(ProblemKind.SIGNATURE_MALFORMED, header, f"{header}: {text}")


def _split_params(value: str, header: str) -> dict[str, str]:
    return _split_quoted(value) or _split_general(value, header)


def _split_quoted(value: str) -> dict[str, str] | None:
    """The usual header, every value quoted and no backslash, in one ``str.split``; else None.

    Without quoted-pairs every '"' delimits a value, so the pieces alternate between the text
    around the values and the values; ``_PARAM`` would walk a 350-character signature one
    character at a time. Anything else (token values, quoted-pairs, any error) is left to
    ``_split_general``: what this accepts, it accepts alike.
    """
    if "\\" in value:
        return None
    pieces = value.split('"')
    if len(pieces) % 2 == 0 or not _BLANK.fullmatch(pieces[-1]):
        return None
    params: dict[str, str] = {}
    for i in range(0, len(pieces) - 1, 2):
        head = (_NEXT_NAME if params else _FIRST_NAME).fullmatch(pieces[i])
        if head is None:
            return None
        name = head.group(1).lower()
        if name in params:
            return None
        params[name] = pieces[i + 1]
    return params or None


def _split_general(value: str, header: str) -> dict[str, str]:
    params: dict[str, str] = {}
    pos, end = 0, len(value)
    while True:
        match = _PARAM.match(value, pos)
        if match is None:
            raise _malformed(header, "not a comma-separated list of name=value parameters")
        name = match.group(1).lower()  # RFC 7235 section 2.1: auth-param names are case-insensitive
        if name in params:
            raise _malformed(header, f"parameter {name} appears twice")
        quoted = match.group(2)
        if quoted is None:
            params[name] = match.group(3)
        else:
            params[name] = _QUOTED_PAIR.sub(r"\1", quoted) if "\\" in quoted else quoted
        pos = match.end()
        if pos == end:
            return params
        if value[pos] != ",":
            raise _malformed(header, "parameters must be separated by commas")
        pos += 1


def _timestamp(params: dict[str, str], name: str, header: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise _malformed(header, f"{name} is not a Unix timestamp")
    return int(raw)


def _header_names(params: dict[str, str], header: str) -> tuple[str, ...]:
    raw = params.get("headers")
    return DEFAULT_HEADERS if raw is None else _split_names(raw, header)


@lru_cache(maxsize=256)  # a TPP signs the same header list on every request
def _split_names(raw: str, header: str) -> tuple[str, ...]:
    names = tuple(raw.lower().split(" "))
    if not raw or "" in names:
        raise _malformed(header, "headers must be a space-separated list of names")
    if len(set(names)) != len(names):
        raise _malformed(header, "headers names a header twice")
    return names


def _signature_bytes(params: dict[str, str], header: str) -> bytes:
    try:
        raw = binascii.a2b_base64(params["signature"], strict_mode=True)  # b64decode(validate=True)
    except (binascii.Error, ValueError) as e:
        raise _malformed(header, "signature is not base64") from e
    if not raw:
        raise _malformed(header, "signature is empty")
    return raw


def parse_signature(value: str | None, *, header: str = "Signature") -> CavageSignature:
    """Parse a draft-cavage ``Signature`` header value (section 4 of the draft)."""
    if value is None or not value.strip(" \t"):
        raise SignatureProblem(ProblemKind.SIGNATURE_MISSING, header, f"{header} header is missing")
    if len(value) > MAX_HEADER_LENGTH:
        raise _malformed(header, "header is too long")
    params = _split_params(value, header)
    for required in ("keyid", "signature"):
        if not params.get(required):
            raise _malformed(
                header, f"the {'keyId' if required == 'keyid' else required} parameter is missing"
            )
    return CavageSignature(
        key_id=params["keyid"],
        algorithm=params.get("algorithm") or None,
        headers=_header_names(params, header),
        signature=_signature_bytes(params, header),
        created=_timestamp(params, "created", header),
        expires=_timestamp(params, "expires", header),
    )


def parse_authorization(value: str | None) -> CavageSignature:
    """Parse ``Authorization: Signature <params>`` (draft-cavage section 3); scheme case-insensitive."""
    header = "Authorization"
    if value is None or not value.strip():
        raise SignatureProblem(ProblemKind.SIGNATURE_MISSING, header, "Authorization header is missing")
    scheme, _, rest = value.strip(" \t").partition(" ")
    if scheme.lower() != "signature":
        raise _malformed(header, "the scheme is not Signature")
    return parse_signature(rest, header=header)


def header_index(headers: HeaderSource) -> dict[str, list[str]]:
    """Lower-cased name -> field values, in order; works for dicts of str or lists and multidicts."""
    index: dict[str, list[str]] = {}
    for name, value in headers.items():
        values = index.setdefault(name.lower(), [])
        if isinstance(value, str):
            values.append(value)
        else:
            values.extend(value)
    return index


def _line(name: str, values: list[str]) -> str:
    # draft-cavage-12 section 2.3 step 2: trim each value, join several with ", ".
    combined = values[0].strip(" \t") if len(values) == 1 else ", ".join(v.strip(" \t") for v in values)
    if "\n" in combined or "\r" in combined or "\0" in combined:
        raise _malformed("Signature", f"header {name} contains a line break")
    return f"{name}: {combined}"


def signing_string(
    method: str,
    target: str,
    headers: HeaderSource,
    names: Iterable[str],
    created: int | None = None,
    expires: int | None = None,
) -> bytes:
    """The draft-cavage signing string (section 2.3) for ``names``, UTF-8 encoded."""
    return indexed_signing_string(method, target, header_index(headers), names, created, expires)


def indexed_signing_string(
    method: str,
    target: str,
    index: Mapping[str, list[str]],
    names: Iterable[str],
    created: int | None = None,
    expires: int | None = None,
) -> bytes:
    """``signing_string`` over a ``header_index`` the caller already has."""
    lines: list[str] = []
    for raw in names:
        name = raw.lower()
        if name == "(request-target)":
            lines.append(_line(name, [f"{method.lower()} {target}"]))
        elif name in ("(created)", "(expires)"):
            stamp = created if name == "(created)" else expires
            if stamp is None:
                raise _malformed("Signature", f"{name} is signed but the parameter is absent")
            lines.append(f"{name}: {stamp}")
        elif values := index.get(name):
            lines.append(_line(name, values))
        else:
            raise SignatureProblem(
                ProblemKind.HEADER_MISSING, name, f"signed header {name} is not in the request"
            )
    try:
        return "\n".join(lines).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as e:
        raise _malformed("Signature", "a signed header is not valid text") from e


@dataclass(frozen=True)
class SignedHeaderPolicy:
    """Which names a bank requires in ``headers=``; built once from configuration.

    ``required`` must always be signed, ``when_present`` whenever the request carries them,
    ``allowed`` (when set) is the whitelist: signing anything else is refused.
    """

    required: frozenset[str]
    when_present: frozenset[str] = frozenset()
    allowed: frozenset[str] | None = None
    # (name, always): required and when-present names in the order they are reported.
    _checked: tuple[tuple[str, bool], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        checked = tuple((name, name in self.required) for name in sorted(self.required | self.when_present))
        object.__setattr__(self, "_checked", checked)

    def check(self, signed: Iterable[str], present: Iterable[str]) -> None:
        self.check_lowered({n.lower() for n in signed}, {n.lower() for n in present})

    def check_lowered(self, signed: Collection[str], present: Container[str]) -> None:
        """``check`` for names already in lower case: a parsed ``headers=`` and a ``header_index``."""
        for name, always in self._checked:
            if name not in signed and (always or name in present):
                raise SignatureProblem(ProblemKind.HEADER_NOT_SIGNED, name, f"header {name} must be signed")
        if self.allowed is not None:
            for name in sorted(set(signed) - self.allowed):
                raise SignatureProblem(
                    ProblemKind.HEADER_NOT_ALLOWED, name, f"header {name} may not be signed"
                )


def berlin_group_policy(
    *, require_date: bool = True, require_request_target: bool = False
) -> SignedHeaderPolicy:
    """NextGenPSD2 1.3 Implementation Guidelines (signature chapter): digest, x-request-id always;
    psu-id, psu-corporate-id and tpp-redirect-uri when sent; date and (request-target) per bank."""
    required = {"digest", "x-request-id"}
    if require_date:
        required.add("date")
    if require_request_target:
        required.add("(request-target)")
    return SignedHeaderPolicy(
        frozenset(required), frozenset({"psu-id", "psu-corporate-id", "tpp-redirect-uri"})
    )
