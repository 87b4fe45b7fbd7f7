"""qcStatements: standard encodings round-trip; known malformations are leniencies or strict errors."""

from __future__ import annotations

import pytest

from gateway.eidas import der
from gateway.eidas.oids import ALL_ROLES, Role
from gateway.eidas.qcstatements import (
    LENIENCY_ROLE_NAME_NOT_UTF8,
    LENIENCY_ROLES_FLATTENED,
    LENIENCY_UNWRAPPED,
    CertificateParseError,
    Psd2Encoding,
    Psd2Statement,
    encode_qc_statements,
    parse_qc_statements,
)

NBB = ("National Bank of Belgium", "BE-NBB")


def psd2(roles: frozenset[Role] = ALL_ROLES, names: tuple[str, ...] = ()) -> Psd2Statement:
    return Psd2Statement(roles, names, *NBB)


@pytest.mark.parametrize(
    "roles",
    [frozenset({Role.PSP_AI}), frozenset({Role.PSP_PI, Role.PSP_AI}), frozenset({Role.PSP_IC}), ALL_ROLES],
)
@pytest.mark.parametrize("qc_types", [("web",), ("eseal",), ("esign", "web")])
def test_round_trip(roles: frozenset[Role], qc_types: tuple[str, ...]) -> None:
    """What is encoded in the standard form parses back unchanged, in strict mode, without notes."""
    parsed = parse_qc_statements(encode_qc_statements(qc_types=qc_types, psd2=psd2(roles)), strict=True)
    assert parsed.compliance
    assert parsed.qc_types == frozenset(qc_types)
    assert parsed.psd2 is not None
    assert (parsed.psd2.roles, parsed.psd2.nca_name, parsed.psd2.nca_id) == (roles, *NBB)
    assert parsed.psd2.role_names == tuple(r.value for r in sorted(roles, key=lambda r: r.oid.dotted_string))
    assert (parsed.leniencies, parsed.warnings) == ((), ())


@pytest.mark.parametrize(
    ("encoding", "leniency"),
    [
        ("unwrapped", LENIENCY_UNWRAPPED),
        ("flat-roles", LENIENCY_ROLES_FLATTENED),
        ("printable-names", LENIENCY_ROLE_NAME_NOT_UTF8),
    ],
)
def test_known_malformations(encoding: Psd2Encoding, leniency: str) -> None:
    """Each malformation is accepted and named in lenient mode and is an error in strict mode."""
    value = encode_qc_statements(psd2=psd2(), psd2_encoding=encoding)
    parsed = parse_qc_statements(value, strict=False)
    assert parsed.leniencies == (leniency,)
    assert parsed.psd2 is not None and parsed.psd2.roles == ALL_ROLES
    with pytest.raises(CertificateParseError, match=leniency):
        parse_qc_statements(value, strict=True)


def test_single_unwrapped_statement() -> None:
    """An extension value that is exactly one PSD2 QCStatement is read in lenient mode."""
    value = encode_qc_statements(compliance=False, qc_types=(), psd2=psd2(), psd2_encoding="unwrapped")
    assert der.read_one(value).tag == der.SEQUENCE
    parsed = parse_qc_statements(value, strict=False)
    assert (parsed.compliance, parsed.leniencies) == (False, (LENIENCY_UNWRAPPED,))
    assert parsed.psd2 is not None and parsed.psd2.nca_id == "BE-NBB"


def test_role_name_disagreeing_with_oid_is_a_warning() -> None:
    """Roles come from the OIDs; a disagreeing name is kept and warned about, even in strict mode."""
    value = encode_qc_statements(psd2=psd2(frozenset({Role.PSP_PI}), ("PSP_AI",)))
    parsed = parse_qc_statements(value, strict=True)
    assert parsed.psd2 is not None
    assert (parsed.psd2.roles, parsed.psd2.role_names) == (frozenset({Role.PSP_PI}), ("PSP_AI",))
    assert len(parsed.warnings) == 1 and "disagrees" in parsed.warnings[0]


def _statement(oid: str, *info: bytes) -> bytes:
    return der.encode_sequence([der.encode_oid(oid), *info])


def _psd2_info(roles: bytes, nca_name: bytes = der.encode_utf8(NBB[0])) -> bytes:
    return der.encode_sequence([roles, nca_name, der.encode_utf8(NBB[1])])


def _role(oid: str, name: str) -> bytes:
    return der.encode_sequence([der.encode_oid(oid), der.encode_utf8(name)])


def test_unknown_statements_and_role_oids() -> None:
    """Unknown statements are ignored; unknown role OIDs and QcTypes are warnings, not roles."""
    roles = der.encode_sequence([_role("0.4.0.19495.1.3", "PSP_AI"), _role("1.2.3.4", "PSP_XX")])
    value = der.encode_sequence(
        [
            _statement("0.4.0.1862.1.1"),
            _statement("0.4.0.1862.1.4"),  # QcSSCD: not ours to read
            _statement("0.4.0.1862.1.6", der.encode_sequence([der.encode_oid("0.4.0.1862.1.6.9")])),
            _statement("0.4.0.19495.2", _psd2_info(roles)),
        ]
    )
    parsed = parse_qc_statements(value, strict=True)
    assert parsed.psd2 is not None and parsed.psd2.roles == frozenset({Role.PSP_AI})
    assert parsed.qc_types == frozenset()
    assert len(parsed.warnings) == 2


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        (b"", "empty"),
        (der.encode_sequence([_statement("0.4.0.19495.2", _psd2_info(der.encode_sequence([])))]), "no roles"),
        (der.encode_sequence([_statement("0.4.0.19495.2")]), "without its PSD2QcType"),
        (der.encode_sequence([_statement("0.4.0.1862.1.6")]), "without its SEQUENCE OF OID"),
        (
            der.encode_sequence(
                [_statement("0.4.0.19495.2", _psd2_info(der.encode_sequence([der.encode_oid("1.2")] * 2)))]
            ),
            "neither",
        ),
        (
            der.encode_sequence(
                [
                    _statement(
                        "0.4.0.19495.2", _psd2_info(der.encode_sequence([_role("0.4.0.19495.1.3", "x")]), b"")
                    )
                ]
            ),
            "expected 3",
        ),
        (
            der.encode_sequence(
                [
                    _statement(
                        "0.4.0.19495.2",
                        _psd2_info(
                            der.encode_sequence([_role("0.4.0.19495.1.3", "PSP_AI")]),
                            der.encode_printable("N"),
                        ),
                    )
                ]
            ),
            "expected tag 0x0c",
        ),
        (der.encode_sequence([_statement("0.4.0.19495.2", b"\x05\x00", b"\x05\x00")]), "expected 1 or 2"),
        (der.encode_sequence([_statement("0.4.0.19495.2", _psd2_info(b"\x30\x00"))] * 2), "no roles"),
        (b"\x04\x00", "not a SEQUENCE OF QCStatement"),
        (der.encode_sequence([der.encode_utf8("x")]), "not a SEQUENCE OF QCStatement"),
    ],
)
def test_malformed_is_an_error_in_both_modes(value: bytes, complaint: str) -> None:
    """Structural errors beyond the known malformations are CertificateParseError even when lenient."""
    for strict in (False, True):
        with pytest.raises(CertificateParseError, match=complaint):
            parse_qc_statements(value, strict=strict)


def test_two_psd2_statements_are_an_error() -> None:
    """Two PSD2 statements would make the roles ambiguous."""
    one = _statement("0.4.0.19495.2", _psd2_info(der.encode_sequence([_role("0.4.0.19495.1.3", "PSP_AI")])))
    with pytest.raises(CertificateParseError, match="more than one"):
        parse_qc_statements(der.encode_sequence([one, one]), strict=False)


def test_role_names_must_match_role_count() -> None:
    """The encoder refuses a names override that does not pair up with the roles."""
    with pytest.raises(ValueError, match="role names"):
        encode_qc_statements(psd2=psd2(ALL_ROLES, ("PSP_AI",)))
