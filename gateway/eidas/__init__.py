"""eIDAS certificates for PSD2: read a TPP's identity from its QWAC/QSealC, and issue test ones.

oids          OIDs of the profile and the PSD2 ``Role`` enum
der           the minimal strict DER reader/writer the qcStatements need
qcstatements  encode / parse the qcStatements extension (strict or lenient)
identity      ``TppIdentity`` from a certificate: pure, no chain or time checks
issue         a dev QTSP (``DevCA``) issuing QWACs, QSealCs, server certs and CRLs
devpki        ``ensure_dev_pki``: the on-disk dev PKI under certs/dev
cli           ``psd2-gateway certs ...``
"""

from gateway.eidas.identity import TppIdentity, identity_from_certificate, identity_from_der, nca_id_of
from gateway.eidas.oids import ALL_ROLES, Role
from gateway.eidas.qcstatements import (
    LENIENCY_ROLE_NAME_NOT_UTF8,
    LENIENCY_ROLES_FLATTENED,
    LENIENCY_UNWRAPPED,
    CertificateParseError,
    Psd2Statement,
    QcStatements,
    encode_qc_statements,
    parse_qc_statements,
)

__all__ = [
    "ALL_ROLES",
    "LENIENCY_ROLES_FLATTENED",
    "LENIENCY_ROLE_NAME_NOT_UTF8",
    "LENIENCY_UNWRAPPED",
    "CertificateParseError",
    "Psd2Statement",
    "QcStatements",
    "Role",
    "TppIdentity",
    "encode_qc_statements",
    "identity_from_certificate",
    "identity_from_der",
    "nca_id_of",
    "parse_qc_statements",
]
