"""draft-cavage-http-signatures (versions 10 and 12): the ``Signature`` header Berlin Group 1.3 uses.

The parser is strict and total: ``auth-param`` list syntax of RFC 7235 section 2.1 (token BWS "="
BWS (token / quoted-string)), any order, duplicate parameters rejected, parameters the draft does
not define ignored (draft-cavage-12 section 2.2: "Any parameter that is not recognized as a
parameter ... MUST be ignored"). Anything else raises ``SignatureProblem``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from gateway.signatures.errors import ProblemKind, SignatureProblem

MAX_HEADER_LENGTH = 8192
# draft-cavage-10 section 2.1.6: without ``headers`` only ``date`` is signed. (Draft 12 changed
# the default to ``(created)``; Berlin Group 1.3 references the earlier behaviour.)
DEFAULT_HEADERS = ("date",)

# RFC 7235 auth-param; the quoted-string is the unrolled-loop form, linear and fast on 350-byte values.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(rf'[ \t]*({_TOKEN})[ \t]*=[ \t]*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|({_TOKEN}))[ \t]*')
_LINE_BREAK = re.compile(r"[\r\n\0]")
_QUOTED_PAIR = re.compile(r"\\(.)")

# dict[str, str], dict[str, list[str]] and aiohttp's CIMultiDictProxy (whose items() repeats names).
HeaderSource = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class CavageSignature:
    key_id: str
    algorithm: str | None
    headers: tuple[str, ...]
    signature: bytes
    created: int | None = None
    expires: int | None = None


def _malformed(header: str, text: str) -> SignatureProblem:
    return SignatureProblem(ProblemKind.SIGNATURE_MALFORMED, header, f"{header}: {text}")


def _split_params(value: str, header: str) -> dict[str, str]:
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
    if raw is None:
        return DEFAULT_HEADERS
    names = tuple(raw.lower().split(" "))
    if not raw or "" in names:
        raise _malformed(header, "headers must be a space-separated list of names")
    if len(set(names)) != len(names):
        raise _malformed(header, "headers names a header twice")
    return names


def _signature_bytes(params: dict[str, str], header: str) -> bytes:
    try:
        raw = base64.b64decode(params["signature"], validate=True)
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
    if _LINE_BREAK.search(combined):
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
    index = header_index(headers)
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
        elif index.get(name):
            lines.append(_line(name, index[name]))
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

    def check(self, signed: Iterable[str], present: Iterable[str]) -> None:
        signed_set = {n.lower() for n in signed}
        present_set = {n.lower() for n in present}
        for name in sorted(self.required | (self.when_present & present_set)):
            if name not in signed_set:
                raise SignatureProblem(ProblemKind.HEADER_NOT_SIGNED, name, f"header {name} must be signed")
        if self.allowed is not None:
            for name in sorted(signed_set - self.allowed):
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
