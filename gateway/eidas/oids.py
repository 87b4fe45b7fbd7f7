"""Object identifiers of the eIDAS/PSD2 certificate profile, and the PSD2 roles.

Sources: RFC 3739 (qcStatements), ETSI EN 319 412-5 (QcCompliance, QcType),
ETSI TS 119 495 (PSD2 QCStatement and roles), ETSI EN 319 412-1 (organizationIdentifier),
ETSI EN 319 411-2 and TS 119 495 (certificate policies).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from cryptography import x509

# RFC 3739 clause 3.2.6: id-pe-qcStatements.
QC_STATEMENTS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")
# ETSI EN 319 412-5 clause 4.2.1: esi4-qcStatement-1, claims the certificate is an EU qualified one.
QC_COMPLIANCE = x509.ObjectIdentifier("0.4.0.1862.1.1")
# ETSI EN 319 412-5 clause 4.2.3: esi4-qcStatement-6 and its three types.
QC_TYPE = x509.ObjectIdentifier("0.4.0.1862.1.6")
QC_TYPE_ESIGN = x509.ObjectIdentifier("0.4.0.1862.1.6.1")
QC_TYPE_ESEAL = x509.ObjectIdentifier("0.4.0.1862.1.6.2")
QC_TYPE_WEB = x509.ObjectIdentifier("0.4.0.1862.1.6.3")
# ETSI TS 119 495 clause 5.1: etsi-psd2-qcStatement.
PSD2_STATEMENT = x509.ObjectIdentifier("0.4.0.19495.2")
# ETSI EN 319 412-1 clause 5.1.4: the legal person semantics identifier attribute.
ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")

# ETSI EN 319 411-2 clause 5.3: QCP-w (QWAC) and QCP-l (qualified seal of a legal person).
POLICY_QCP_W = x509.ObjectIdentifier("0.4.0.194112.1.4")
POLICY_QCP_L = x509.ObjectIdentifier("0.4.0.194112.1.1")
# ETSI TS 119 495: QCP-w-psd2, the policy of a QWAC issued under PSD2.
POLICY_QCP_W_PSD2 = x509.ObjectIdentifier("0.4.0.19495.3.1")

QC_TYPE_NAMES: Mapping[str, str] = {
    QC_TYPE_ESIGN.dotted_string: "esign",
    QC_TYPE_ESEAL.dotted_string: "eseal",
    QC_TYPE_WEB.dotted_string: "web",
}
QC_TYPE_OIDS: Mapping[str, x509.ObjectIdentifier] = {
    "esign": QC_TYPE_ESIGN,
    "eseal": QC_TYPE_ESEAL,
    "web": QC_TYPE_WEB,
}


class Role(StrEnum):
    """A PSD2 role of a payment service provider (ETSI TS 119 495 clause 5.2.2)."""

    PSP_AS = "PSP_AS"  # account servicing (the bank side)
    PSP_PI = "PSP_PI"  # payment initiation
    PSP_AI = "PSP_AI"  # account information
    PSP_IC = "PSP_IC"  # issuing of card-based payment instruments

    @property
    def oid(self) -> x509.ObjectIdentifier:
        return _ROLE_OIDS[self]

    @classmethod
    def from_oid(cls, oid: x509.ObjectIdentifier | str) -> Role | None:
        """The role with this OID (object or dotted string), or None for a role this profile does not know."""
        dotted = oid if isinstance(oid, str) else oid.dotted_string
        return _ROLES_BY_OID.get(dotted)

    @classmethod
    def parse(cls, name: str) -> Role:
        """The role named ``name`` (``PSP_AI``); ValueError names the accepted spellings."""
        try:
            return cls(name.strip().upper())
        except ValueError:
            accepted = ", ".join(r.value for r in cls)
            raise ValueError(f"unknown PSD2 role {name!r} (expected one of {accepted})") from None


# ETSI TS 119 495 clause 5.2.2: id-psd2-role-psp-as .. -ic under 0.4.0.19495.1.
_ROLE_OIDS: Mapping[Role, x509.ObjectIdentifier] = {
    Role.PSP_AS: x509.ObjectIdentifier("0.4.0.19495.1.1"),
    Role.PSP_PI: x509.ObjectIdentifier("0.4.0.19495.1.2"),
    Role.PSP_AI: x509.ObjectIdentifier("0.4.0.19495.1.3"),
    Role.PSP_IC: x509.ObjectIdentifier("0.4.0.19495.1.4"),
}
_ROLES_BY_OID: Mapping[str, Role] = {oid.dotted_string: role for role, oid in _ROLE_OIDS.items()}

ALL_ROLES: frozenset[Role] = frozenset(Role)
