"""The Berlin Group keyId: ``SN=<certificate serial in hex>,CA=<issuer DN>``.

NextGenPSD2 1.3 defines the keyId of the ``Signature`` header as the serial number and the
issuer of the TPP's QSealC. Comparing it as a string fails on legitimate variants (``0x``,
case, leading zeros, DN order and spacing, URL encoding), so it is parsed into a serial integer
and an attribute set and compared with the certificate that way.

The serial is always read as hexadecimal, as the Guidelines' example (``SN=9FA1``) and every
QTSP's tooling print it. An all-digit serial is ambiguous (``1234`` is valid hex), so its
decimal reading is kept in ``decimal_serial`` and only used when a bank opts in with
``accept_decimal=True``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

from cryptography import x509

from gateway.signatures.dn import DnSet, name_set, parse_dn
from gateway.signatures.errors import ProblemKind, SignatureProblem
from gateway.signatures.per_object import per_object

MAX_KEY_ID_LENGTH = 2048
# RFC 5280 section 4.1.2.2 caps serials at 20 octets; allow leading zeros on top of that.
_SERIAL = re.compile(r"(?:0[xX])?([0-9A-Fa-f]{1,64})")
_KEY_ID = re.compile(r"\s*SN\s*=\s*([^,]*?)\s*,\s*CA\s*=(.*)", re.IGNORECASE | re.DOTALL)
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


@dataclass(frozen=True)
class KeyId:
    serial: int
    issuer: DnSet
    decimal_serial: int | None = None


def _bad(text: str) -> SignatureProblem:
    return SignatureProblem(ProblemKind.KEY_ID_MALFORMED, "Signature", f"keyId: {text}")


def _url_decoded(value: str) -> str:
    if not _PERCENT.search(value):
        return value
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError as e:
        raise _bad("the URL encoding is not UTF-8") from e


# A TPP sends the same keyId on every request: caching the pure parse makes the steady state
# a dict lookup. Bounded, so a flood of distinct keyIds only evicts, never grows memory.
@lru_cache(maxsize=1024)
def parse_key_id(value: str) -> KeyId:
    """Parse a Berlin Group keyId; raises ``SignatureProblem`` (KEY_ID_MALFORMED) otherwise."""
    if len(value) > MAX_KEY_ID_LENGTH:
        raise _bad("too long")
    match = _KEY_ID.fullmatch(_url_decoded(value))
    if match is None:
        raise _bad("expected SN=<serial>,CA=<issuer DN>")
    serial_text, issuer = match.groups()
    serial = _SERIAL.fullmatch(serial_text)
    if serial is None:
        raise _bad("the serial number is not hexadecimal")
    digits = serial.group(1)
    decimal = int(digits) if digits.isdigit() and serial_text == digits else None
    return KeyId(int(digits, 16), parse_dn(issuer), decimal)


def key_id_matches(key_id: KeyId, cert: x509.Certificate, *, accept_decimal: bool = False) -> bool:
    """Serial equal as integers and issuer equal as an attribute set."""
    serial, issuer = _serial_and_issuer(cert)
    serial_ok = key_id.serial == serial or (accept_decimal and key_id.decimal_serial == serial)
    return serial_ok and key_id.issuer == issuer


@per_object(maxsize=1024)
def _serial_and_issuer(cert: x509.Certificate) -> tuple[int, DnSet]:
    # cryptography builds both anew on every access: ~1 µs a request for the same QSealC.
    return cert.serial_number, name_set(cert.issuer)


def check_key_id(value: str, cert: x509.Certificate, *, accept_decimal: bool = False) -> KeyId:
    """Parse ``value`` and require it to name ``cert``; KEY_ID_MISMATCH otherwise."""
    key_id = parse_key_id(value)
    if not key_id_matches(key_id, cert, accept_decimal=accept_decimal):
        raise SignatureProblem(
            ProblemKind.KEY_ID_MISMATCH,
            "Signature",
            "keyId does not name the certificate in TPP-Signature-Certificate",
        )
    return key_id


def format_key_id(cert: x509.Certificate) -> str:
    """``SN=<upper-case hex>,CA=<issuer in RFC 4514>``, what ``sign.py`` puts in the header."""
    return f"SN={cert.serial_number:X},CA={cert.issuer.rfc4514_string()}"
