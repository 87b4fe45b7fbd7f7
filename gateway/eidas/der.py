"""A minimal, strict DER reader and writer: SEQUENCE, OBJECT IDENTIFIER and two string types.

Why hand-written: cryptography hands the qcStatements extension (RFC 3739) over as an
``UnrecognizedExtension`` holding raw DER, and a general ASN.1 library (pyasn1) is a slow
extra dependency for three types. This module decodes only what ETSI EN 319 412-5 and
TS 119 495 need, and it is total: on any input it returns a value or raises ``DerError``,
nothing else (the hypothesis tests in ``tests/eidas/test_der.py`` hold it to that).

Strict means DER (ITU-T X.690 clause 10), not BER: no indefinite lengths, no long-form
length where the short form fits, no leading zero length octets, no trailing bytes, no
high-tag-number identifiers (nothing in these profiles uses them), minimal OID arcs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SEQUENCE = 0x30
OBJECT_IDENTIFIER = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13

# Long-form lengths of more than 4 octets would describe > 4 GiB: never a certificate extension.
_MAX_LENGTH_OCTETS = 4
# 20 octets of base-128 hold 140 bits: enough for the 128-bit UUID arcs of X.667 (2.25.<uuid>),
# and it keeps str(int) far from Python's int-to-str digit limit.
_MAX_ARC_OCTETS = 20
# X.680 clause 41.4 limits PrintableString to A-Z a-z 0-9 space '()+,-./:=? but the certificates
# that use it for PSD2 role names write "PSP_AI": the underscore is outside it. Printable ASCII it is.
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_DOTTED = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")


class DerError(ValueError):
    """The bytes are not the strict DER this module expects; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Tlv:
    """One decoded element: its identifier octet and its content octets."""

    tag: int
    content: bytes


def read_one(data: bytes) -> Tlv:
    """The single element that ``data`` encodes, with nothing after it."""
    items = read_all(data)
    if len(items) != 1:
        raise DerError(f"expected exactly one element, found {len(items)}")
    return items[0]


def read_all(data: bytes) -> list[Tlv]:
    """The elements that ``data`` encodes back to back, filling it exactly."""
    items: list[Tlv] = []
    offset = 0
    while offset < len(data):
        item, offset = _read_tlv(data, offset)
        items.append(item)
    return items


def children(tlv: Tlv, tag: int = SEQUENCE) -> list[Tlv]:
    """The elements inside a constructed ``tlv`` that must carry ``tag``."""
    expect(tlv, tag)
    return read_all(tlv.content)


def expect(tlv: Tlv, tag: int) -> Tlv:
    if tlv.tag != tag:
        raise DerError(f"expected tag 0x{tag:02x}, found 0x{tlv.tag:02x}")
    return tlv


def _read_tlv(data: bytes, offset: int) -> tuple[Tlv, int]:
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise DerError(f"high-tag-number identifier at offset {offset} is not supported")
    length, start = _read_length(data, offset + 1)
    end = start + length
    if end > len(data):
        raise DerError(f"element at offset {offset} runs {end - len(data)} bytes past the end")
    return Tlv(tag, bytes(data[start:end])), end


def _read_length(data: bytes, offset: int) -> tuple[int, int]:
    if offset >= len(data):
        raise DerError(f"missing length octet at offset {offset}")
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    count = first & 0x7F
    if count == 0:
        raise DerError(f"indefinite length at offset {offset} is BER, not DER")
    if count > _MAX_LENGTH_OCTETS:
        raise DerError(f"length of {count} octets at offset {offset} is too long")
    octets = data[offset + 1 : offset + 1 + count]
    if len(octets) != count:
        raise DerError(f"truncated length at offset {offset}")
    # X.690 clause 10.1: the definite form must use the fewest octets possible.
    if octets[0] == 0 or (count == 1 and octets[0] < 0x80):
        raise DerError(f"overlong length encoding at offset {offset}")
    return int.from_bytes(octets, "big"), offset + 1 + count


def decode_oid(tlv: Tlv) -> str:
    """The dotted string of an OBJECT IDENTIFIER element (X.690 clause 8.19)."""
    content = expect(tlv, OBJECT_IDENTIFIER).content
    if not content or content[-1] & 0x80:
        raise DerError("empty or truncated object identifier")
    arcs: list[int] = []
    value, octets = 0, 0
    for byte in content:
        if octets == 0 and byte == 0x80:
            raise DerError("object identifier arc with a leading 0x80 octet")
        value, octets = (value << 7) | (byte & 0x7F), octets + 1
        if octets > _MAX_ARC_OCTETS:
            raise DerError("object identifier arc is too long")
        if not byte & 0x80:
            arcs.append(value)
            value, octets = 0, 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in (first, arcs[0] - 40 * first, *arcs[1:]))


def decode_string(tlv: Tlv) -> str:
    """The text of a UTF8String or PrintableString element."""
    if tlv.tag == UTF8_STRING:
        try:
            return tlv.content.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DerError(f"UTF8String is not valid UTF-8: {e.reason}") from None
    if tlv.tag == PRINTABLE_STRING:
        text = tlv.content.decode("latin-1")
        if not _PRINTABLE.fullmatch(text):
            raise DerError("PrintableString holds characters outside printable ASCII")
        return text
    raise DerError(f"expected a UTF8String or PrintableString, found tag 0x{tlv.tag:02x}")


def encode(tag: int, content: bytes) -> bytes:
    """One element: identifier, minimal definite length, content."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + content


def encode_sequence(items: Iterable[bytes]) -> bytes:
    return encode(SEQUENCE, b"".join(items))


def encode_oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER element from its dotted string."""
    if not _DOTTED.fullmatch(dotted):
        raise DerError(f"not a dotted object identifier: {dotted!r}")
    first, second, *rest = (int(arc) for arc in dotted.split("."))
    if first < 2 and second >= 40:
        raise DerError(f"second arc of {dotted!r} must be below 40")
    return encode(OBJECT_IDENTIFIER, b"".join(_base128(arc) for arc in (40 * first + second, *rest)))


def _base128(arc: int) -> bytes:
    out = [arc & 0x7F]
    arc >>= 7
    while arc:
        out.append(0x80 | (arc & 0x7F))
        arc >>= 7
    return bytes(reversed(out))


def encode_utf8(text: str) -> bytes:
    return encode(UTF8_STRING, text.encode("utf-8"))


def encode_printable(text: str) -> bytes:
    if not _PRINTABLE.fullmatch(text):
        raise DerError(f"{text!r} is not a PrintableString")
    return encode(PRINTABLE_STRING, text.encode("ascii"))
