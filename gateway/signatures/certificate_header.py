"""``TPP-Signature-Certificate``: the TPP's QSealC, "in base64 encoding" (NextGenPSD2 1.3).

TPPs send base64 DER (what the Guidelines mean), PEM with its armour, PEM without it, PEM whose
line breaks a proxy folded into spaces, and URL-encoded PEM (what nginx's
``$ssl_client_escaped_cert`` produces). All of these are one certificate; anything else,
including two certificates, is CERTIFICATE_MALFORMED.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.signatures.errors import ProblemKind, SignatureProblem

HEADER = "TPP-Signature-Certificate"
# A QSealC with a long chain of policies is ~2-3 KiB DER, ~4 KiB base64; 16 KiB is generous.
MAX_HEADER_LENGTH = 16 * 1024

_BEGIN = "-----BEGIN CERTIFICATE-----"
_END = "-----END CERTIFICATE-----"
_WHITESPACE = re.compile(r"[ \t\r\n]+")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


def _malformed(text: str) -> SignatureProblem:
    return SignatureProblem(ProblemKind.CERTIFICATE_MALFORMED, HEADER, f"{HEADER}: {text}")


def _base64_body(value: str) -> str:
    if value.count(_BEGIN) > 1:
        raise _malformed("must carry exactly one certificate")
    if _BEGIN in value:
        start = value.index(_BEGIN) + len(_BEGIN)
        end = value.find(_END, start)
        if end < 0 or value[: start - len(_BEGIN)].strip() or value[end + len(_END) :].strip():
            raise _malformed("the PEM armour is incomplete")
        value = value[start:end]
    return _WHITESPACE.sub("", value)


def _der(value: str) -> bytes:
    body = _base64_body(value)
    if "-" in body or "_" in body:
        body = body.replace("-", "+").replace("_", "/")  # base64url (RFC 4648 section 5)
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as e:
        raise _malformed("is not base64") from e
    if not der:
        raise _malformed("is empty")
    return der


def decode_certificate_header(value: str | None) -> x509.Certificate:
    """The certificate in ``TPP-Signature-Certificate``; raises ``SignatureProblem`` otherwise."""
    if value is None or not value.strip():
        raise SignatureProblem(ProblemKind.CERTIFICATE_MISSING, HEADER, f"{HEADER} header is missing")
    if len(value) > MAX_HEADER_LENGTH:
        raise _malformed("is too long")
    if _PERCENT.search(value):
        value = unquote(value)
    try:
        return x509.load_der_x509_certificate(_der(value))
    except (ValueError, x509.InvalidVersion) as e:  # InvalidVersion is not a ValueError
        raise _malformed("is not a DER X.509 certificate") from e


def encode_certificate_header(cert: x509.Certificate) -> str:
    """Base64 DER on one line: the form the Guidelines specify."""
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii")
