"""Body digests: RFC 3230 ``Digest`` (what Berlin Group 1.3 mandates) and RFC 9530 ``Content-Digest``.

Both are computed over the body bytes exactly as received: never over re-serialised JSON, which
is what makes some open implementations accept a body that is not the one the TPP sealed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from gateway.signatures import structured
from gateway.signatures.errors import ProblemKind, SignatureProblem

MAX_HEADER_LENGTH = 4096
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

# RFC 5843 registers SHA-256 and SHA-512 for Digest; "SHA256" and "SHA512" are spellings seen at banks.
_ALIASES = {"sha-256": "sha-256", "sha256": "sha-256", "sha-512": "sha-512", "sha512": "sha-512"}
_SIZES = {"sha-256": 32, "sha-512": 64}
_CANONICAL = {"sha-256": "SHA-256", "sha-512": "SHA-512"}

EMPTY_SHA256 = "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
EMPTY_SHA512 = (
    "SHA-512=z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
)


# Copies of empty hash objects: ``hashlib.sha256(body)`` looks the algorithm up in OpenSSL 3's
# provider store on every call. With the caches cold, as under load, that took about 3 µs more
# than copying a context that has it already (bench/README.md, sixth round); in a loop, nothing.
_EMPTY = {"sha-256": hashlib.sha256(), "sha-512": hashlib.sha512()}


def _hash(alg: str, body: bytes) -> bytes:
    h = _EMPTY[alg].copy()
    h.update(body)
    return h.digest()


def _problem(kind: ProblemKind, header: str, text: str) -> SignatureProblem:
    return SignatureProblem(kind, header, text)


def _decode(header: str, encoded: str, alg: str) -> bytes:
    try:
        raw = binascii.a2b_base64(encoded, strict_mode=True)  # b64decode(validate=True)
    except (binascii.Error, ValueError) as e:
        raise _problem(
            ProblemKind.DIGEST_MALFORMED, header, f"{header}: the {alg} value is not base64"
        ) from e
    if len(raw) != _SIZES[alg]:
        raise _problem(
            ProblemKind.DIGEST_MALFORMED, header, f"{header}: the {alg} value has the wrong length"
        )
    return raw


def parse_digest(value: str | None) -> list[tuple[str, bytes]]:
    """The supported instances of an RFC 3230 ``Digest`` header as (``sha-256``/``sha-512``, digest).

    RFC 3230 section 4.3.2: ``instance-digest = digest-algorithm "=" <encoded digest output>``,
    comma-separated; algorithm names are case-insensitive (section 4.1.1). Instances with an
    algorithm we do not support (MD5, SHA, UNIXsum, ...) are skipped; none left is an error.
    """
    header = "Digest"
    if value is None or not value.strip():
        raise _problem(ProblemKind.DIGEST_MISSING, header, "Digest header is missing")
    if len(value) > MAX_HEADER_LENGTH:
        raise _problem(ProblemKind.DIGEST_MALFORMED, header, "Digest header is too long")
    found: list[tuple[str, bytes]] = []
    for instance in value.split(","):
        name, sep, encoded = instance.strip(" \t").partition("=")
        if not sep or not name or not set(name) <= _TOKEN_CHARS:
            raise _problem(ProblemKind.DIGEST_MALFORMED, header, "Digest header is not a list of alg=value")
        alg = _ALIASES.get(name.lower())
        if alg is not None:
            found.append((alg, _decode(header, encoded, alg)))
    if not found:
        raise _problem(
            ProblemKind.DIGEST_UNSUPPORTED, header, "Digest header has no SHA-256 or SHA-512 value"
        )
    return found


def _check(header: str, instances: list[tuple[str, bytes]], body: bytes) -> None:
    for alg, expected in instances:
        if not hmac.compare_digest(_hash(alg, body), expected):
            raise _problem(ProblemKind.DIGEST_MISMATCH, header, f"{header} does not match the request body")


def verify_digest(value: str | None, body: bytes) -> None:
    """Every supported digest in ``Digest`` must match ``body``; at least one must be supported."""
    _check("Digest", parse_digest(value), body)


def parse_content_digest(value: str | None) -> list[tuple[str, bytes]]:
    """RFC 9530 section 2: ``Content-Digest`` is an sf-dictionary of algorithm keys to byte sequences."""
    header = "Content-Digest"
    if value is None or not value.strip():
        raise _problem(ProblemKind.DIGEST_MISSING, header, "Content-Digest header is missing")
    try:
        members = structured.parse_dictionary(value)
    except structured.StructuredFieldError as e:
        raise _problem(ProblemKind.DIGEST_MALFORMED, header, "Content-Digest is not a dictionary") from e
    found: list[tuple[str, bytes]] = []
    for key, member in members.items():
        alg = key if key in _SIZES else None  # RFC 9530 keys are lower-case, exact.
        if alg is None:
            continue
        if not isinstance(member, structured.Item) or not isinstance(member.value, bytes):
            raise _problem(ProblemKind.DIGEST_MALFORMED, header, f"{header}: {alg} is not a byte sequence")
        if len(member.value) != _SIZES[alg]:
            raise _problem(ProblemKind.DIGEST_MALFORMED, header, f"{header}: {alg} has the wrong length")
        found.append((alg, member.value))
    if not found:
        raise _problem(
            ProblemKind.DIGEST_UNSUPPORTED, header, "Content-Digest has no sha-256 or sha-512 value"
        )
    return found


def verify_content_digest(value: str | None, body: bytes) -> None:
    _check("Content-Digest", parse_content_digest(value), body)


def _algorithm(alg: str) -> str:
    canonical = _ALIASES.get(alg.lower())
    if canonical is None:
        raise _problem(ProblemKind.DIGEST_UNSUPPORTED, "Digest", "only SHA-256 and SHA-512 are supported")
    return canonical


def make_digest(body: bytes, alg: str = "SHA-256") -> str:
    """The ``Digest`` header value for ``body``, e.g. ``SHA-256=47DEQ...=`` for an empty body."""
    canonical = _algorithm(alg)
    return f"{_CANONICAL[canonical]}={base64.b64encode(_hash(canonical, body)).decode('ascii')}"


def make_content_digest(body: bytes, alg: str = "sha-256") -> str:
    canonical = _algorithm(alg)
    return f"{canonical}=:{base64.b64encode(_hash(canonical, body)).decode('ascii')}:"
