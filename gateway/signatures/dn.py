"""Distinguished names as TPPs write them in a keyId, reduced to a comparable set of attributes.

Accepted spellings: RFC 4514 / RFC 2253 (``CN=x,O=y,C=DE``, escapes ``\\,`` and ``\\2C``, quoted
values from RFC 1779), the OpenSSL one-line form (``/C=DE/O=y/CN=x``), and either order. The
result is a frozenset of (attribute OID, value): attribute names are mapped to OIDs, values are
whitespace-collapsed and case-folded, so order, case and spacing never decide a match. A comma
or slash is only a separator when an ``attribute=`` follows it, so unescaped commas inside an
organisation name (``O=Bank, Inc.``) survive, as they do in many real keyIds.
"""

from __future__ import annotations

import re

from cryptography import x509

from gateway.signatures.errors import ProblemKind, SignatureProblem

DnSet = frozenset[tuple[str, str]]

MAX_DN_LENGTH = 2048

# RFC 4519 / RFC 4514 section 3 names, the eIDAS ones (EN 319 412-1) and common aliases.
_NAMES = {
    "CN": "2.5.4.3", "COMMONNAME": "2.5.4.3",
    "SN": "2.5.4.4", "SURNAME": "2.5.4.4",
    "SERIALNUMBER": "2.5.4.5", "SERIAL_NUMBER": "2.5.4.5",
    "C": "2.5.4.6", "COUNTRYNAME": "2.5.4.6",
    "L": "2.5.4.7", "LOCALITYNAME": "2.5.4.7",
    "ST": "2.5.4.8", "S": "2.5.4.8", "STATEORPROVINCENAME": "2.5.4.8",
    "STREET": "2.5.4.9", "STREETADDRESS": "2.5.4.9",
    "O": "2.5.4.10", "ORGANIZATIONNAME": "2.5.4.10",
    "OU": "2.5.4.11", "ORGANIZATIONALUNITNAME": "2.5.4.11",
    "T": "2.5.4.12", "TITLE": "2.5.4.12",
    "GN": "2.5.4.42", "G": "2.5.4.42", "GIVENNAME": "2.5.4.42",
    "ORGANIZATIONIDENTIFIER": "2.5.4.97", "ORGID": "2.5.4.97",
    "DC": "0.9.2342.19200300.100.1.25", "DOMAINCOMPONENT": "0.9.2342.19200300.100.1.25",
    "UID": "0.9.2342.19200300.100.1.1", "USERID": "0.9.2342.19200300.100.1.1",
    "E": "1.2.840.113549.1.9.1", "EMAIL": "1.2.840.113549.1.9.1", "EMAILADDRESS": "1.2.840.113549.1.9.1",
}  # fmt: skip

_ATTR = r"[ \t]*(?:[A-Za-z][A-Za-z0-9_-]*|(?:OID\.)?[0-9]+(?:\.[0-9]+)+)[ \t]*="
_RFC4514_SEP = re.compile(r"(?<!\\)[,;+](?=" + _ATTR + ")")
_ONELINE_SEP = re.compile(r"(?<!\\)[/+](?=" + _ATTR + ")")
_HEX_ESCAPES = re.compile(r"(?:\\[0-9A-Fa-f]{2})+")
_CHAR_ESCAPE = re.compile(r"\\(.)")
_ATTR_NAME = re.compile(_ATTR)


def _bad(text: str) -> SignatureProblem:
    return SignatureProblem(ProblemKind.KEY_ID_MALFORMED, "Signature", f"keyId: {text}")


def attribute_oid(name: str) -> str:
    """``CN`` / ``commonName`` / ``2.5.4.3`` / ``OID.2.5.4.3`` -> ``2.5.4.3``; unknown names upper-cased."""
    key = name.strip().upper()
    if key.startswith("OID."):
        key = key[4:]
    return _NAMES.get(key, key)


def normalise_value(value: str) -> str:
    return " ".join(value.split()).casefold()


def _unescape(value: str) -> str:
    def hex_run(match: re.Match[str]) -> str:
        raw = bytes.fromhex(match.group(0).replace("\\", ""))
        return raw.decode("utf-8", "replace")

    if "\\" not in value:
        return value
    return _CHAR_ESCAPE.sub(r"\1", _HEX_ESCAPES.sub(hex_run, value))


def _value(raw: str) -> str:
    text = raw.strip(" \t")
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]  # RFC 1779 quoted value
    return normalise_value(_unescape(text))


def parse_dn(text: str) -> DnSet:
    """The attribute set of ``text``; raises ``SignatureProblem`` (KEY_ID_MALFORMED) if it is no DN."""
    stripped = text.strip()
    if not stripped or len(stripped) > MAX_DN_LENGTH:
        raise _bad("the issuer DN is empty or too long")
    oneline = stripped.startswith("/")
    parts = _ONELINE_SEP.split(stripped[1:]) if oneline else _RFC4514_SEP.split(stripped)
    attributes: set[tuple[str, str]] = set()
    for part in parts:
        name, sep, value = part.partition("=")
        if not sep or not _ATTR_NAME.fullmatch(name + "="):
            raise _bad("the issuer DN is not a list of attribute=value")
        attributes.add((attribute_oid(name), _value(value)))
    return frozenset(attributes)


def name_set(name: x509.Name) -> DnSet:
    """The same normalised attribute set for a certificate's issuer or subject."""
    out: set[tuple[str, str]] = set()
    for attribute in name:
        value = attribute.value
        text = value if isinstance(value, str) else "#" + value.hex()
        out.add((attribute.oid.dotted_string, normalise_value(text)))
    return frozenset(out)
