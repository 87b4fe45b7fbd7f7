"""RFC 9421 HTTP Message Signatures: parse ``Signature-Input``/``Signature``, build the base, verify, sign.

Supported: every derived component of section 2.2 (``@method``, ``@target-uri``, ``@authority``,
``@scheme``, ``@request-target``, ``@path``, ``@query``, ``@query-param;name=``, ``@status``)
and header fields (section 2.1: lower-cased name, each value trimmed, several joined by ", ").
The field parameters ``sf``, ``key``, ``bs``, ``req`` and ``tr`` are refused as
COMPONENT_UNSUPPORTED: no Berlin Group profile needs them and a partial implementation would
compute a base the signer did not.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from urllib.parse import SplitResult, quote, unquote_plus, urlsplit

from gateway.signatures import structured
from gateway.signatures.cavage import HeaderSource, header_index
from gateway.signatures.errors import ProblemKind, SignatureProblem
from gateway.signatures.structured import InnerList, Item, Params
from gateway.signatures.verify import PrivateKey, PublicKey, key_family, schemes_for, sign_bytes, verify

# RFC 9421 section 6.2.2, the initial contents of the signature algorithm registry.
RFC9421_ALGORITHMS = frozenset(
    {"rsa-pss-sha512", "rsa-v1_5-sha256", "hmac-sha256", "ecdsa-p256-sha256", "ecdsa-p384-sha384", "ed25519"}
)
_DERIVED = frozenset(
    {
        "@method",
        "@target-uri",
        "@authority",
        "@scheme",
        "@request-target",
        "@path",
        "@query",
        "@query-param",
        "@status",
    }
)
_PARAM_TYPES: dict[str, type] = {
    "created": int,
    "expires": int,
    "nonce": str,
    "alg": str,
    "keyid": str,
    "tag": str,
}
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Message:
    """What a signature covers: the request (or, with ``status``, the response)."""

    method: str
    target_uri: str  # absolute: scheme://authority/path?query
    headers: HeaderSource
    status: int | None = None


@dataclass(frozen=True)
class SignatureInput:
    label: str
    covered: InnerList

    @property
    def params(self) -> Params:
        return self.covered.params

    @property
    def component_names(self) -> tuple[str, ...]:
        return tuple(str(item.value) for item in self.covered.items)


def _malformed(header: str, text: str) -> SignatureProblem:
    return SignatureProblem(ProblemKind.SIGNATURE_MALFORMED, header, f"{header}: {text}")


def _dictionary(value: str | None, header: str) -> dict[str, structured.Member]:
    if value is None or not value.strip():
        raise SignatureProblem(ProblemKind.SIGNATURE_MISSING, header, f"{header} header is missing")
    try:
        return structured.parse_dictionary(value)
    except structured.StructuredFieldError as e:
        raise _malformed(header, "is not a structured-field dictionary") from e


def _check_component(item: Item, header: str) -> None:
    name = item.value
    if not isinstance(name, str) or isinstance(name, structured.Token) or name != name.lower() or not name:
        raise _malformed(header, "a component identifier is not a lower-case string")
    extra = set(item.params) - ({"name"} if name == "@query-param" else set())
    if extra or (name.startswith("@") and name not in _DERIVED):
        raise SignatureProblem(
            ProblemKind.COMPONENT_UNSUPPORTED, header, f"{header}: component {name} is not supported"
        )
    if name == "@query-param" and not isinstance(item.params.get("name"), str):
        raise _malformed(header, "@query-param needs a name parameter")


def _check_input(covered: InnerList, header: str) -> None:
    for item in covered.items:
        _check_component(item, header)
    ids = [structured.serialize_item(i) for i in covered.items]
    if len(set(ids)) != len(ids):
        raise _malformed(header, "a component is covered twice")  # section 2.5
    for key, kind in _PARAM_TYPES.items():
        value = covered.params.get(key)
        if value is not None and type(value) is not kind:
            raise _malformed(header, f"parameter {key} has the wrong type")


def parse_signature_input(value: str | None) -> dict[str, SignatureInput]:
    header = "Signature-Input"
    result: dict[str, SignatureInput] = {}
    for label, member in _dictionary(value, header).items():
        if not isinstance(member, InnerList):
            raise _malformed(header, "each signature must be an inner list")
        _check_input(member, header)
        result[label] = SignatureInput(label, member)
    return result


def parse_signatures(value: str | None) -> dict[str, bytes]:
    header = "Signature"
    result: dict[str, bytes] = {}
    for label, member in _dictionary(value, header).items():
        if not isinstance(member, Item) or not isinstance(member.value, bytes) or not member.value:
            raise _malformed(header, "each signature must be a byte sequence")
        result[label] = member.value
    return result


def _authority(parts: SplitResult) -> str:
    netloc = parts.netloc.lower().rpartition("@")[2]
    try:
        port = parts.port
    except ValueError:
        return netloc
    if port is not None and port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        return netloc.rpartition(":")[0]  # RFC 9110 section 4.2.3: the default port is omitted
    return netloc


def _query_params(query: str, name: str) -> list[str]:
    wanted = unquote_plus(name)
    values = []
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if unquote_plus(key) == wanted:
            values.append(quote(unquote_plus(value), safe=""))  # section 2.2.8: re-encoded
    return values


def _derived(item: Item, message: Message) -> list[str]:
    name = str(item.value)
    try:
        parts = urlsplit(message.target_uri)
    except ValueError as e:
        raise _malformed("Signature-Input", "the target URI is not a URI") from e
    path = parts.path or "/"
    values = {
        "@method": message.method,
        "@target-uri": message.target_uri,
        "@authority": _authority(parts),
        "@scheme": parts.scheme.lower(),
        "@request-target": path + (f"?{parts.query}" if parts.query else ""),
        "@path": path,
        "@query": f"?{parts.query}",
    }
    if name == "@status":
        if message.status is None:
            raise _malformed("Signature-Input", "@status only applies to responses")
        return [f"{message.status:03d}"]
    if name == "@query-param":
        found = _query_params(parts.query, str(item.params["name"]))
        if not found:
            raise SignatureProblem(ProblemKind.HEADER_MISSING, name, "a signed query parameter is absent")
        return found
    return [values[name]]


def _lines(item: Item, message: Message, index: Mapping[str, list[str]]) -> list[str]:
    name = str(item.value)
    identifier = structured.serialize_item(item)
    if name.startswith("@"):
        values = _derived(item, message)
    elif index.get(name):
        values = [", ".join(v.strip(" \t") for v in index[name])]
    else:
        raise SignatureProblem(
            ProblemKind.HEADER_MISSING, name, f"signed header {name} is not in the message"
        )
    lines = [f"{identifier}: {v}" for v in values]
    if any(c in line for line in lines for c in "\r\n"):
        raise _malformed("Signature-Input", f"component {name} contains a line break")
    return lines


def signature_base(message: Message, covered: InnerList) -> bytes:
    """Section 2.5: one line per component, then ``"@signature-params"``; no final newline."""
    index = header_index(message.headers)
    lines = [line for item in covered.items for line in _lines(item, message, index)]
    lines.append(f'"@signature-params": {structured.serialize_inner_list(covered)}')
    try:
        return "\n".join(lines).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as e:
        raise _malformed("Signature-Input", "a covered component is not valid text") from e


def _pick(inputs: dict[str, SignatureInput], label: str | None) -> SignatureInput:
    if label is None and len(inputs) == 1:
        return next(iter(inputs.values()))
    if label is None or label not in inputs:
        raise _malformed("Signature-Input", "the expected signature label is absent")
    return inputs[label]


def _algorithm(chosen: SignatureInput, expected: str | None) -> str | None:
    declared = chosen.params.get("alg")
    if declared is not None and declared not in RFC9421_ALGORITHMS:
        raise SignatureProblem(ProblemKind.ALGORITHM_UNSUPPORTED, "Signature-Input", "alg is not supported")
    if declared is not None and expected is not None and declared != expected:
        raise SignatureProblem(
            ProblemKind.ALGORITHM_MISMATCH, "Signature-Input", "alg is not the expected one"
        )
    return str(declared) if declared is not None else expected


def verify_message(
    message: Message,
    signature_input: str | None,
    signature: str | None,
    key: PublicKey | bytes,
    *,
    label: str | None = None,
    algorithm: str | None = None,
    required: Sequence[str] = (),
    now: float | None = None,
    min_rsa_bits: int = 2048,
) -> SignatureInput:
    """Verify one signature (``label``, or the only one); ``key`` is a public key or an HMAC secret."""
    chosen = _pick(parse_signature_input(signature_input), label)
    value = parse_signatures(signature).get(chosen.label)
    if value is None:
        raise _malformed("Signature", "has no value for the signature label")
    for name in required:
        if name not in chosen.component_names:
            raise SignatureProblem(ProblemKind.HEADER_NOT_SIGNED, name, f"component {name} must be signed")
    expires = chosen.params.get("expires")
    if now is not None and isinstance(expires, int) and expires < now:
        raise SignatureProblem(ProblemKind.SIGNATURE_EXPIRED, "Signature-Input", "the signature has expired")
    alg = _algorithm(chosen, algorithm)
    base = signature_base(message, chosen.covered)
    if isinstance(key, bytes):
        _verify_hmac(key, alg, base, value)
    else:
        verify(key, alg, base, value, min_rsa_bits=min_rsa_bits, ecdsa_format="raw", hs2019_pkcs1=False)
    return chosen


def _verify_hmac(secret: bytes, alg: str | None, base: bytes, value: bytes) -> None:
    if alg not in (None, "hmac-sha256"):
        raise SignatureProblem(
            ProblemKind.ALGORITHM_MISMATCH, "Signature-Input", "alg does not fit an HMAC key"
        )
    if not hmac.compare_digest(hmac.new(secret, base, sha256).digest(), value):
        raise SignatureProblem(ProblemKind.SIGNATURE_INVALID, "Signature", "Signature does not verify")


def covered_components(names: Sequence[str | tuple[str, Params]], params: Params) -> InnerList:
    """``["@method", ("@query-param", {"name": "Pet"})]`` and signature parameters -> an inner list."""
    items = tuple(Item(n) if isinstance(n, str) else Item(n[0], dict(n[1])) for n in names)
    covered = InnerList(items, dict(params))
    _check_input(covered, "Signature-Input")
    return covered


def sign_message(
    message: Message,
    covered: InnerList,
    key: PrivateKey | bytes,
    *,
    label: str = "sig1",
    alg: str | None = None,
) -> tuple[str, str]:
    """(``Signature-Input`` value, ``Signature`` value); ``alg`` picks RSA padding when it is ambiguous."""
    base = signature_base(message, covered)
    if isinstance(key, bytes):
        value = hmac.new(key, base, sha256).digest()
    else:
        # Without alg, RSA means rsa-pss-sha512 (section 3.3.1), the other keys have one algorithm.
        scheme = schemes_for(key_family(key), alg)[0]
        value = sign_bytes(key, scheme, base, ecdsa_format="raw")
    signature_input = f"{label}={structured.serialize_inner_list(covered)}"
    return signature_input, f"{label}={structured.serialize_bare_item(value)}"
