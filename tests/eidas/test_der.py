"""The DER reader is strict and total: valid encodings round-trip, anything else is a DerError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.eidas import der
from gateway.eidas.oids import ALL_ROLES
from gateway.eidas.qcstatements import (
    CertificateParseError,
    Psd2Statement,
    encode_qc_statements,
    parse_qc_statements,
)

VALID_QC = encode_qc_statements(psd2=Psd2Statement(ALL_ROLES, (), "National Bank of Belgium", "BE-NBB"))


@pytest.mark.parametrize(
    "dotted",
    [
        "0.4.0.19495.2",
        "1.3.6.1.5.5.7.1.3",
        "2.5.4.97",
        "2.999.1",
        "0.39",
        "2.25.329800735698586629295641978511506172918",
    ],
)
def test_oid_round_trip(dotted: str) -> None:
    """Encoding then decoding an OID gives back the same dotted string."""
    assert der.decode_oid(der.read_one(der.encode_oid(dotted))) == dotted


@pytest.mark.parametrize("size", [0, 1, 127, 128, 255, 256, 70_000])
def test_length_forms_round_trip(size: int) -> None:
    """Short and long definite lengths are written minimally and read back."""
    encoded = der.encode(der.UTF8_STRING, b"a" * size)
    assert der.decode_string(der.read_one(encoded)) == "a" * size


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"\x30\x80\x00\x00", "indefinite"),
        (b"\x0c\x81\x05hello", "overlong"),
        (b"\x0c\x82\x00\x85" + b"a" * 0x85, "overlong"),
        (b"\x0c\x85\x01\x00\x00\x00\x00", "too long"),
        (b"\x0c\x05hell", "past the end"),
        (b"\x0c\x82\x01", "truncated"),
        (b"\x0c", "missing length"),
        (b"\x1f\x01\x00", "high-tag-number"),
    ],
)
def test_malformed_framing_is_rejected(data: bytes, complaint: str) -> None:
    """BER-only or broken framing is a DerError naming the problem."""
    with pytest.raises(der.DerError, match=complaint):
        der.read_all(data)


def test_trailing_bytes_are_rejected() -> None:
    """One element followed by anything more is not one element."""
    with pytest.raises(der.DerError, match="exactly one"):
        der.read_one(der.encode_utf8("x") + b"\x05\x00")


@pytest.mark.parametrize(
    ("tlv", "decoder"),
    [
        (der.Tlv(der.OBJECT_IDENTIFIER, b""), der.decode_oid),
        (der.Tlv(der.OBJECT_IDENTIFIER, b"\x2a\x86"), der.decode_oid),
        (der.Tlv(der.OBJECT_IDENTIFIER, b"\x2a\x80\x01"), der.decode_oid),
        (der.Tlv(der.OBJECT_IDENTIFIER, b"\x81" * 25 + b"\x01"), der.decode_oid),
        (der.Tlv(der.UTF8_STRING, b"\x06\x00"), der.decode_oid),
        (der.Tlv(der.UTF8_STRING, b"\xff\xfe"), der.decode_string),
        (der.Tlv(der.PRINTABLE_STRING, b"a\xe9b"), der.decode_string),
        (der.Tlv(0x16, b"ia5"), der.decode_string),
    ],
)
def test_malformed_values_are_rejected(tlv: der.Tlv, decoder: object) -> None:
    """Truncated, non-minimal or mistyped values are a DerError."""
    assert callable(decoder)
    with pytest.raises(der.DerError):
        decoder(tlv)


@pytest.mark.parametrize("dotted", ["", "1", "3.1", "1.40", "1.02", "1..2", "a.b"])
def test_encode_oid_rejects_bad_dotted_strings(dotted: str) -> None:
    """The writer refuses to write an OID it could not read back."""
    with pytest.raises(der.DerError):
        der.encode_oid(dotted)


@given(st.lists(st.integers(0, 2**140 - 1), min_size=1, max_size=8), st.integers(0, 2), st.integers(0, 39))
def test_oid_round_trip_property(rest: list[int], first: int, second: int) -> None:
    """Any OID with arcs up to 140 bits survives encode then decode."""
    dotted = ".".join(str(arc) for arc in (first, second, *rest))
    assert der.decode_oid(der.read_one(der.encode_oid(dotted))) == dotted


def _decode_everything(data: bytes) -> None:
    for tlv in der.read_all(data):
        for decoder in (der.decode_oid, der.decode_string, der.children):
            with contextlib.suppress(der.DerError):
                decoder(tlv)


@given(st.binary(max_size=300))
@example(b"\x06\x95" + b"\xff" * 20 + b"\x7f")
def test_reader_on_arbitrary_bytes_raises_only_der_error(data: bytes) -> None:
    """Arbitrary bytes never make the reader raise anything but DerError."""
    with contextlib.suppress(der.DerError):
        _decode_everything(data)


@st.composite
def _mutations(draw: st.DrawFn) -> bytes:
    data = bytearray(VALID_QC)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "set", "drop", "insert"]))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.integers(0, 255))
        elif op == "drop" and len(data) > 1:
            del data[i]
        else:
            data.insert(i, draw(st.integers(0, 255)))
    return bytes(data)


@given(st.one_of(st.binary(max_size=300), _mutations()), st.booleans())
def test_qc_parser_raises_only_certificate_parse_error(data: bytes, strict: bool) -> None:
    """Arbitrary and mutated qcStatements either parse or raise CertificateParseError, nothing else."""
    with contextlib.suppress(CertificateParseError):
        parse_qc_statements(data, strict=strict)


@given(_mutations())
def test_reader_on_mutated_encodings_raises_only_der_error(data: bytes) -> None:
    """Mutations of a valid encoding never make the reader raise anything but DerError."""
    with contextlib.suppress(der.DerError):
        _decode_everything(data)
