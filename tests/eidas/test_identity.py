"""TppIdentity from issued certificates: round trips, malformed variants, and precise refusals."""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.eidas.identity import identity_from_certificate, identity_from_der, nca_id_of
from gateway.eidas.issue import DevCA, KeyType, TppFields
from gateway.eidas.oids import ALL_ROLES, Role
from gateway.eidas.qcstatements import (
    LENIENCY_ROLE_NAME_NOT_UTF8,
    LENIENCY_ROLES_FLATTENED,
    LENIENCY_UNWRAPPED,
    CertificateParseError,
    Psd2Encoding,
)

ROLE_SETS = [
    frozenset({Role.PSP_AI}),
    frozenset({Role.PSP_PI}),
    frozenset({Role.PSP_IC}),
    frozenset({Role.PSP_AI, Role.PSP_PI}),
    ALL_ROLES,
]


@pytest.mark.parametrize("roles", ROLE_SETS)
@pytest.mark.parametrize("kind", ["qwac", "qseal"])
def test_round_trip_roles(dev_ca: DevCA, roles: frozenset[Role], kind: str) -> None:
    """The roles, NCA and QcType issued are the ones parsed back, strictly and without notes."""
    issue = dev_ca.issue_qwac if kind == "qwac" else dev_ca.issue_qseal
    issued = issue(roles=roles)
    tpp = identity_from_certificate(issued.cert, strict=True)
    assert tpp.roles == roles
    assert (tpp.organization_id, tpp.organization_name, tpp.country) == (
        "PSDBE-NBB-0123456789",
        "Dev TPP Ltd",
        "BE",
    )
    assert (tpp.nca_name, tpp.nca_id) == ("National Bank of Belgium", "BE-NBB")
    assert tpp.qc_types == frozenset({"web" if kind == "qwac" else "eseal"})
    assert (tpp.leniencies, tpp.warnings) == ((), ())


@pytest.mark.parametrize("key_type", ["rsa2048", "rsa3072", "ec-p256"])
def test_round_trip_key_types(dev_ca: DevCA, key_type: KeyType) -> None:
    """Every key type issues a parseable QWAC whose metadata matches the certificate."""
    issued = dev_ca.issue_qwac(key_type=key_type, roles={Role.PSP_AI})
    der = issued.cert.public_bytes(serialization.Encoding.DER)
    tpp = identity_from_der(der)
    assert tpp.roles == {Role.PSP_AI}
    assert tpp.serial == issued.cert.serial_number
    assert tpp.fingerprint_sha256 == hashlib.sha256(der).hexdigest()
    assert tpp.not_before.tzinfo is UTC and tpp.not_after.tzinfo is UTC
    assert tpp.issuer_rfc4514 == dev_ca.issuing.cert.subject.rfc4514_string()
    assert "2.5.4.97=PSDBE-NBB-0123456789" in tpp.subject_rfc4514


@pytest.mark.parametrize(
    ("encoding", "leniency"),
    [
        ("unwrapped", LENIENCY_UNWRAPPED),
        ("flat-roles", LENIENCY_ROLES_FLATTENED),
        ("printable-names", LENIENCY_ROLE_NAME_NOT_UTF8),
    ],
)
def test_malformed_variants(dev_ca: DevCA, encoding: Psd2Encoding, leniency: str) -> None:
    """A malformed certificate yields an identity with its leniency when lenient, an error when strict."""
    cert = dev_ca.issue_qwac(psd2_encoding=encoding, roles={Role.PSP_AI, Role.PSP_PI}).cert
    tpp = identity_from_certificate(cert)
    assert tpp.roles == {Role.PSP_AI, Role.PSP_PI}
    assert tpp.leniencies == (leniency,)
    with pytest.raises(CertificateParseError, match=leniency):
        identity_from_certificate(cert, strict=True)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"omit_psd2_statement": True}, "missing PSD2 QCStatement"),
        ({"omit_qc_compliance": True}, "missing QcCompliance"),
        ({"organization_id": ""}, "0 organizationIdentifier attributes"),
        ({"organization_id": "PSDBE-NBB"}, "not of the form"),
        ({"organization_id": "PSDBE-NBB-"}, "not of the form"),
        ({"organization_id": "BE-NBB-0123456789"}, "not of the form"),
        ({"organization_id": "VATBE-0123456789"}, "not of the form"),
        ({"organization_id": "PSDbe-NBB-0123456789"}, "not of the form"),
        ({"organization_id": "PSDBE-N-0123456789"}, "not of the form"),
        ({"organization_id": "PSDBE-NBB-0123 456789"}, "not of the form"),
        ({"organization_id": "PSDFR-ACPR-12345"}, "NCA mismatch"),
        ({"nca_id": "BE-FSMA"}, "NCA mismatch"),
        ({"organization_name": ""}, "0 organizationName"),
        ({"country": ""}, "0 countryName"),
        ({"roles": frozenset()}, "no roles"),
    ],
)
def test_refusals(dev_ca: DevCA, changes: TppFields, reason: str) -> None:
    """A certificate missing or contradicting a PSD2 attribute is refused with a precise reason."""
    cert = dev_ca.issue_qwac(**changes).cert
    with pytest.raises(CertificateParseError, match=reason):
        identity_from_certificate(cert)


def test_wrong_qc_type_is_visible(dev_ca: DevCA) -> None:
    """A QWAC carrying QcType eseal parses; the policy sees qc_types and decides."""
    assert identity_from_certificate(dev_ca.issue_qwac(qc_type="eseal").cert).qc_types == {"eseal"}
    assert identity_from_certificate(dev_ca.issue_qwac(qc_type="").cert).qc_types == frozenset()


def test_role_name_mismatch_is_a_warning(dev_ca: DevCA) -> None:
    """A role name disagreeing with its OID is a warning; the OID decides the role."""
    tpp = identity_from_certificate(
        dev_ca.issue_qwac(roles={Role.PSP_PI}, role_names=("PSP_AI",)).cert, strict=True
    )
    assert tpp.roles == {Role.PSP_PI}
    assert any("disagrees" in w for w in tpp.warnings)


def test_country_mismatch_is_a_warning(dev_ca: DevCA) -> None:
    """A subject country other than the authorising NCA's is unusual, not invalid."""
    tpp = identity_from_certificate(dev_ca.issue_qwac(country="NL").cert)
    assert tpp.country == "NL" and any("country" in w for w in tpp.warnings)


def test_validity_is_not_checked_here(dev_ca: DevCA) -> None:
    """An expired certificate still yields its identity: time is the validator's business."""
    past = datetime.now(UTC) - timedelta(days=30)
    tpp = identity_from_certificate(dev_ca.issue_qwac(not_before=past, valid_days=1).cert)
    assert tpp.not_after < datetime.now(UTC)


def test_server_certificate_is_not_a_tpp(dev_ca: DevCA) -> None:
    """A certificate without qcStatements is refused."""
    with pytest.raises(CertificateParseError, match="missing qcStatements"):
        identity_from_certificate(dev_ca.issue_server(["localhost"]).cert)


def test_extra_subject_attributes_are_kept(dev_ca: DevCA) -> None:
    """Extra subject attributes do not disturb parsing."""
    extra = (x509.NameAttribute(NameOID.LOCALITY_NAME, "Brussels"),)
    tpp = identity_from_certificate(dev_ca.issue_qwac(extra_subject=extra).cert)
    assert "L=Brussels" in tpp.subject_rfc4514


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x02\x01\x00", b"not a certificate"])
def test_identity_from_der_garbage(der: bytes) -> None:
    """Bytes that are not a certificate are a CertificateParseError, never cryptography's ValueError."""
    with pytest.raises(CertificateParseError, match=r"not a DER X\.509 certificate"):
        identity_from_der(der)


@pytest.mark.parametrize(
    ("organization_id", "nca_id"),
    [("PSDBE-NBB-0123456789", "BE-NBB"), ("PSDDE-BAFIN-123456", "DE-BAFIN"), ("PSDGB-FCA-12/34", "GB-FCA")],
)
def test_nca_id_of(organization_id: str, nca_id: str) -> None:
    """The NCA id is the country and NCA part of the organizationIdentifier."""
    assert nca_id_of(organization_id) == nca_id


def test_as_dict_is_json_ready(dev_ca: DevCA) -> None:
    """The dict view has sorted lists and ISO datetimes."""
    view = identity_from_certificate(dev_ca.issue_qwac(roles={Role.PSP_PI, Role.PSP_AI}).cert).as_dict()
    assert view["roles"] == ["PSP_AI", "PSP_PI"] and view["qc_types"] == ["web"]
    assert datetime.fromisoformat(view["not_after"]).tzinfo is not None


@pytest.fixture(scope="module")
def qwac_der(dev_ca: DevCA) -> bytes:
    return dev_ca.issue_qwac(psd2_encoding="flat-roles").cert.public_bytes(serialization.Encoding.DER)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_certificates_raise_only_certificate_parse_error(
    qwac_der: bytes, data: st.DataObject
) -> None:
    """A QWAC with a few bytes changed either parses or raises CertificateParseError, nothing else."""
    der = bytearray(qwac_der)
    for _ in range(data.draw(st.integers(1, 3))):
        der[data.draw(st.integers(0, len(der) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(CertificateParseError):
        identity_from_der(bytes(der), strict=data.draw(st.booleans()))
