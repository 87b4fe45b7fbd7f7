"""Who a TPP is, read from its eIDAS certificate (QWAC or QSealC); pure, no chain or time checks.

The identity needs three things to agree (ETSI TS 119 495 clause 5.2): a QcCompliance
statement, a PSD2 QCStatement naming the roles and the competent authority (NCA), and a
subject organizationIdentifier ``PSD<CC>-<NCA>-<authorisation number>`` (EN 319 412-1
clause 5.1.4) whose ``<CC>-<NCA>`` is the statement's NCA id. Whether the chain is
trusted and the certificate is current is the validator's question, not this module's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from gateway.eidas.oids import ORGANIZATION_IDENTIFIER, QC_STATEMENTS, Role
from gateway.eidas.qcstatements import CertificateParseError, QcStatements, parse_qc_statements

# EN 319 412-1 clause 5.1.4: "PSD", ISO 3166-1 country, "-", 2-8 letter NCA identifier (A-Z only),
# "-", the PSP identifier the NCA assigned. TS 119 495 clause 5.2.3: NCAId is "<CC>-<NCA>".
__all__ = [
    "CertificateParseError",
    "TppIdentity",
    "identity_from_certificate",
    "identity_from_der",
    "nca_id_of",
]

_PSD2_ORGANIZATION_ID = re.compile(r"PSD(?P<country>[A-Z]{2})-(?P<nca>[A-Z]{2,8})-(?P<number>[!-~]+)")


@dataclass(frozen=True, slots=True)
class TppIdentity:
    organization_id: str
    organization_name: str
    country: str
    roles: frozenset[Role]
    nca_name: str
    nca_id: str
    qc_types: frozenset[str]
    fingerprint_sha256: str
    serial: int
    issuer_rfc4514: str
    subject_rfc4514: str
    not_before: datetime
    not_after: datetime
    leniencies: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view, sets sorted, datetimes in ISO 8601 (for logs and ``certs show``)."""
        return {
            "organization_id": self.organization_id,
            "organization_name": self.organization_name,
            "country": self.country,
            "roles": sorted(role.value for role in self.roles),
            "nca_name": self.nca_name,
            "nca_id": self.nca_id,
            "qc_types": sorted(self.qc_types),
            "fingerprint_sha256": self.fingerprint_sha256,
            "serial": f"{self.serial:x}",
            "issuer": self.issuer_rfc4514,
            "subject": self.subject_rfc4514,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "leniencies": list(self.leniencies),
            "warnings": list(self.warnings),
        }


def nca_id_of(organization_id: str) -> str:
    """The NCA id (``BE-NBB``) a PSD2 organizationIdentifier (``PSDBE-NBB-0123456789``) names."""
    match = _PSD2_ORGANIZATION_ID.fullmatch(organization_id)
    if match is None:
        raise CertificateParseError(
            f"organizationIdentifier {organization_id!r} is not of the form PSD<CC>-<NCA>-<authorisation>"
        )
    return f"{match['country']}-{match['nca']}"


def identity_from_der(der: bytes, *, strict: bool = False) -> TppIdentity:
    """Parse a DER certificate; any complaint from cryptography becomes a ``CertificateParseError``."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion) as e:  # InvalidVersion is not a ValueError
        raise CertificateParseError("not a DER X.509 certificate") from e
    return identity_from_certificate(cert, strict=strict)


def identity_from_certificate(cert: x509.Certificate, *, strict: bool = False) -> TppIdentity:
    """The TPP identity a PSD2 certificate asserts, or ``CertificateParseError`` saying what is missing."""
    try:
        return _identity(cert, strict)
    except (ValueError, TypeError, x509.DuplicateExtension, x509.InvalidVersion) as e:
        # cryptography parses lazily: a malformed name or extension surfaces on first access,
        # as ValueError or (for mistyped attribute values) TypeError.
        if isinstance(e, CertificateParseError):
            raise
        raise CertificateParseError("unreadable certificate") from e


def _identity(cert: x509.Certificate, strict: bool) -> TppIdentity:
    qc = _qc_statements(cert, strict)
    if not qc.compliance:
        raise CertificateParseError("missing QcCompliance statement (EN 319 412-5 clause 4.2.1)")
    if qc.psd2 is None:
        raise CertificateParseError("missing PSD2 QCStatement (TS 119 495 clause 5.1)")
    organization_id = _subject_attribute(cert, ORGANIZATION_IDENTIFIER, "organizationIdentifier")
    if nca_id_of(organization_id) != qc.psd2.nca_id:
        raise CertificateParseError(
            f"NCA mismatch: organizationIdentifier {organization_id!r} vs PSD2 nCAId {qc.psd2.nca_id!r}"
        )
    country = _subject_attribute(cert, NameOID.COUNTRY_NAME, "countryName")
    warnings = qc.warnings
    if organization_id[3:5] != country:
        warnings += (f"subject country {country} differs from the organizationIdentifier country",)
    return TppIdentity(
        organization_id=organization_id,
        organization_name=_subject_attribute(cert, NameOID.ORGANIZATION_NAME, "organizationName"),
        country=country,
        roles=qc.psd2.roles,
        nca_name=qc.psd2.nca_name,
        nca_id=qc.psd2.nca_id,
        qc_types=qc.qc_types,
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        serial=cert.serial_number,
        issuer_rfc4514=cert.issuer.rfc4514_string(),
        subject_rfc4514=cert.subject.rfc4514_string(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        leniencies=qc.leniencies,
        warnings=warnings,
    )


def _qc_statements(cert: x509.Certificate, strict: bool) -> QcStatements:
    try:
        extension = cert.extensions.get_extension_for_oid(QC_STATEMENTS)
    except x509.ExtensionNotFound:
        raise CertificateParseError("missing qcStatements extension (RFC 3739)") from None
    value = extension.value
    # cryptography may one day model qcStatements; until then it is the raw DER of the value.
    if not isinstance(value, x509.UnrecognizedExtension):
        raise CertificateParseError(f"qcStatements decoded as unexpected {type(value).__name__}")
    return parse_qc_statements(value.value, strict=strict)


def _subject_attribute(cert: x509.Certificate, oid: x509.ObjectIdentifier, label: str) -> str:
    attributes = cert.subject.get_attributes_for_oid(oid)
    if len(attributes) != 1:
        raise CertificateParseError(f"subject has {len(attributes)} {label} attributes, expected 1")
    value = attributes[0].value
    if not isinstance(value, str) or not value:
        raise CertificateParseError(f"subject {label} is empty or not a string")
    return value
