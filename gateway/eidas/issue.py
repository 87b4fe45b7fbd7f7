"""Issue realistic eIDAS test certificates: a dev QTSP (root + issuing CA), QWACs, QSealCs, server certs.

The profiles follow what qualified trust service providers issue for PSD2: subject C, O,
organizationIdentifier and CN (EN 319 412-3 clause 4.2.1), qcStatements with QcCompliance,
QcType and the PSD2 statement (EN 319 412-5, TS 119 495), the QCP-w / QCP-l policies
(EN 319 411-2), AKI/SKI, and optional CRL / OCSP URLs at a local test responder. The knobs of
``TppProfile`` also produce the malformed certificates met in the wild, for parser tests.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import Literal, TypedDict, Unpack, get_args

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from gateway.eidas import oids
from gateway.eidas.oids import ALL_ROLES, Role
from gateway.eidas.qcstatements import Psd2Encoding, Psd2Statement, encode_qc_statements

KeyType = Literal["rsa2048", "rsa3072", "ec-p256"]
KEY_TYPES: tuple[KeyType, ...] = get_args(KeyType)
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
Kind = Literal["qwac", "qseal"]

# Tolerates a few minutes of clock skew between the issuing test and the gateway under test.
_BACKDATE = timedelta(minutes=5)


def generate_key(key_type: KeyType) -> PrivateKey:
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type.removeprefix("rsa")))


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate with its private key and the CA certificates between it and the root."""

    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def chain_pem(self) -> bytes:
        """The certificate followed by its intermediates: what a TLS peer presents."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.cert, *self.chain))


@dataclass(frozen=True)
class TppProfile:
    """What goes into a QWAC or QSealC; the defaults are the dev TPP, the last knobs break it on purpose."""

    organization_name: str = "Dev TPP Ltd"
    organization_id: str = "PSDBE-NBB-0123456789"  # "" leaves organizationIdentifier out
    country: str = "BE"
    roles: Collection[Role] = ALL_ROLES
    nca_name: str = "National Bank of Belgium"
    nca_id: str = "BE-NBB"
    common_name: str | None = None  # defaults to organization_name
    not_before: datetime | None = None  # defaults to now (minus a little skew)
    not_after: datetime | None = None  # defaults to not_before + valid_days
    valid_days: int = 365
    key_type: KeyType = "ec-p256"
    client_auth_eku: bool = True  # QWAC only: serverAuth alone when False
    psd2_encoding: Psd2Encoding = "standard"
    qc_type: str | None = None  # overrides "web" (QWAC) / "eseal" (QSealC); "" writes no QcType
    omit_psd2_statement: bool = False
    omit_qc_compliance: bool = False
    role_names: tuple[str, ...] | None = None  # in role-OID order; may disagree with the OIDs
    extra_subject: tuple[x509.NameAttribute[str], ...] = ()


class TppFields(TypedDict, total=False):
    """Keyword overrides of ``TppProfile`` accepted by ``DevCA.issue_qwac`` / ``issue_qseal``."""

    organization_name: str
    organization_id: str
    country: str
    roles: Collection[Role]
    nca_name: str
    nca_id: str
    common_name: str | None
    not_before: datetime | None
    not_after: datetime | None
    valid_days: int
    key_type: KeyType
    client_auth_eku: bool
    psd2_encoding: Psd2Encoding
    qc_type: str | None
    omit_psd2_statement: bool
    omit_qc_compliance: bool
    role_names: tuple[str, ...] | None
    extra_subject: tuple[x509.NameAttribute[str], ...]


@dataclass(frozen=True)
class DevCA:
    """A two-level test QTSP: a self-signed root and the issuing CA that signs every leaf and CRL."""

    root: IssuedCertificate
    issuing: IssuedCertificate
    revocation_base_url: str | None = None  # e.g. "http://127.0.0.1:8099": adds CRL DP and OCSP AIA

    @classmethod
    def create(
        cls,
        name: str = "psd2-gateway Dev QTSP",
        key_type: KeyType = "ec-p256",
        *,
        revocation_base_url: str | None = None,
    ) -> DevCA:
        now = datetime.now(UTC) - _BACKDATE
        root_key, issuing_key = generate_key(key_type), generate_key(key_type)
        root_name, issuing_name = _ca_name(name, "Root CA"), _ca_name(name, "Issuing CA")
        root_builder = _ca(_builder(root_name, root_name, root_key, now, now + timedelta(days=3650)), 1)
        root = IssuedCertificate(root_builder.sign(root_key, hashes.SHA256()), root_key)
        builder = _ca(_builder(issuing_name, root_name, issuing_key, now, now + timedelta(days=1825)), 0)
        issuing_cert = cls(root, root, revocation_base_url)._sign(builder, "root")
        return cls(root, IssuedCertificate(issuing_cert, issuing_key, (root.cert,)), revocation_base_url)

    @classmethod
    def load(cls, directory: Path, *, revocation_base_url: str | None = None) -> DevCA:
        """Read ``root.pem``, ``issuing.pem`` and their ``*.test-key.pem`` written by ``save``."""
        root = _load_pair(directory / "root.pem", directory / "root.test-key.pem")
        issuing = _load_pair(directory / "issuing.pem", directory / "issuing.test-key.pem")
        return cls(root, replace(issuing, chain=(root.cert,)), revocation_base_url)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for label, issued in (("root", self.root), ("issuing", self.issuing)):
            write_pem(directory / f"{label}.pem", issued.cert_pem())
            write_pem(directory / f"{label}.test-key.pem", issued.key_pem(), private=True)

    def bundle_pem(self) -> bytes:
        """Root then issuing CA: the trust bundle a gateway loads to accept this QTSP's TPPs."""
        return self.root.cert_pem() + self.issuing.cert_pem()

    def issue_qwac(
        self, profile: TppProfile | None = None, **changes: Unpack[TppFields]
    ) -> IssuedCertificate:
        """A QWAC (EN 319 412-4 with PSD2 attributes): QcType web, serverAuth (+clientAuth) EKU."""
        return self._issue_tpp("qwac", replace(profile or TppProfile(), **changes))

    def issue_qseal(
        self, profile: TppProfile | None = None, **changes: Unpack[TppFields]
    ) -> IssuedCertificate:
        """A QSealC: QcType eseal, digitalSignature + nonRepudiation, no EKU."""
        return self._issue_tpp("qseal", replace(profile or TppProfile(), **changes))

    def issue_server(
        self,
        hostnames: Sequence[str],
        ips: Sequence[str] = (),
        *,
        key_type: KeyType = "ec-p256",
        valid_days: int = 365,
    ) -> IssuedCertificate:
        """The gateway's own TLS server certificate: SAN DNS names and IPs, serverAuth EKU."""
        key = generate_key(key_type)
        now = datetime.now(UTC) - _BACKDATE
        subject = _name([(NameOID.COMMON_NAME, hostnames[0] if hostnames else "psd2-gateway")])
        names: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
        names += [x509.IPAddress(ip_address(ip)) for ip in ips]
        builder = _builder(subject, self.issuing.cert.subject, key, now, now + timedelta(days=valid_days))
        builder = _add(
            builder,
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.SubjectAlternativeName(names), False),
            (_usage(key_encipherment=_is_rsa(key)), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        )
        return IssuedCertificate(self._sign(builder, "issuing"), key, (self.issuing.cert,))

    def _issue_tpp(self, kind: Kind, p: TppProfile) -> IssuedCertificate:
        key = generate_key(p.key_type)
        not_before = p.not_before or datetime.now(UTC) - _BACKDATE
        not_after = p.not_after or not_before + timedelta(days=p.valid_days)
        builder = _builder(_tpp_subject(p), self.issuing.cert.subject, key, not_before, not_after)
        qwac = kind == "qwac"
        # EN 319 412-5 clause 4.2.3 / EN 319 411-2: QcType and policy say web (QWAC) or seal (QSealC).
        policies = [oids.POLICY_QCP_W, oids.POLICY_QCP_W_PSD2] if qwac else [oids.POLICY_QCP_L]
        usage = _usage(key_encipherment=_is_rsa(key)) if qwac else _usage(content_commitment=True)
        builder = _add(
            builder,
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (_qc_extension(kind, p), False),
            (usage, True),
            (x509.CertificatePolicies([x509.PolicyInformation(o, None) for o in policies]), False),
        )
        if qwac:
            client = [ExtendedKeyUsageOID.CLIENT_AUTH] if p.client_auth_eku else []
            builder = _add(
                builder, (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, *client]), False)
            )
        return IssuedCertificate(self._sign(builder, "issuing"), key, (self.issuing.cert,))

    def _sign(self, builder: x509.CertificateBuilder, signer: Literal["root", "issuing"]) -> x509.Certificate:
        ca = self.root if signer == "root" else self.issuing
        builder = builder.add_extension(_aki(ca.cert), critical=False)
        if self.revocation_base_url:
            builder = _with_revocation_urls(builder, self.revocation_base_url.rstrip("/"), signer)
        return builder.sign(ca.key, hashes.SHA256())


def issue_crl(
    ca: DevCA, revoked_serials: Iterable[int], this_update: datetime, next_update: datetime
) -> x509.CertificateRevocationList:
    """A CRL of the issuing CA (RFC 5280 clause 5) revoking ``revoked_serials`` as of ``this_update``."""
    builder = x509.CertificateRevocationListBuilder().issuer_name(ca.issuing.cert.subject)
    builder = builder.last_update(this_update).next_update(next_update)
    builder = builder.add_extension(_aki(ca.issuing.cert), critical=False)
    builder = builder.add_extension(x509.CRLNumber(int(this_update.timestamp())), critical=False)
    for serial in revoked_serials:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(this_update).build()
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(ca.issuing.key, hashes.SHA256())


def write_pem(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data``; private keys are created 0600 so no other user can read them even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        if private:
            os.fchmod(f.fileno(), 0o600)
        f.write(data)


def load_private_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: expected an RSA or EC private key, found {type(key).__name__}")
    return key


def _load_pair(cert_path: Path, key_path: Path) -> IssuedCertificate:
    return IssuedCertificate(
        x509.load_pem_x509_certificate(cert_path.read_bytes()), load_private_key(key_path)
    )


def _name(attributes: Iterable[tuple[x509.ObjectIdentifier, str]]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes if value])


def _tpp_subject(p: TppProfile) -> x509.Name:
    # EN 319 412-3 clause 4.2.1: a legal person's subject carries C, O, organizationIdentifier and CN.
    base = _name([(NameOID.COUNTRY_NAME, p.country), (NameOID.ORGANIZATION_NAME, p.organization_name)])
    tail = _name(
        [
            (oids.ORGANIZATION_IDENTIFIER, p.organization_id),
            (NameOID.COMMON_NAME, p.common_name or p.organization_name),
        ]
    )
    return x509.Name([*base, *p.extra_subject, *tail])


def _qc_extension(kind: Kind, p: TppProfile) -> x509.UnrecognizedExtension:
    qc_type = p.qc_type if p.qc_type is not None else ("web" if kind == "qwac" else "eseal")
    psd2 = Psd2Statement(frozenset(p.roles), p.role_names or (), p.nca_name, p.nca_id)
    value = encode_qc_statements(
        compliance=not p.omit_qc_compliance,
        qc_types=[qc_type] if qc_type else [],
        psd2=None if p.omit_psd2_statement else psd2,
        psd2_encoding=p.psd2_encoding,
    )
    return x509.UnrecognizedExtension(oids.QC_STATEMENTS, value)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: PrivateKey, not_before: datetime, not_after: datetime
) -> x509.CertificateBuilder:
    builder = x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
    builder = (
        builder.serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    return builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)


def _ca_name(name: str, role: str) -> x509.Name:
    return _name(
        [
            (NameOID.COUNTRY_NAME, "BE"),
            (NameOID.ORGANIZATION_NAME, name),
            (NameOID.COMMON_NAME, f"{name} {role}"),
        ]
    )


def _ca(builder: x509.CertificateBuilder, path_length: int) -> x509.CertificateBuilder:
    return _add(
        builder,
        (x509.BasicConstraints(ca=True, path_length=path_length), True),
        (_usage(key_cert_sign=True, crl_sign=True), True),
    )


def _add(
    builder: x509.CertificateBuilder, *extensions: tuple[x509.ExtensionType, bool]
) -> x509.CertificateBuilder:
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder


def _usage(
    *,
    content_commitment: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    """digitalSignature plus the named bits; content_commitment is X.509's nonRepudiation."""
    return x509.KeyUsage(
        True, content_commitment, key_encipherment, False, False, key_cert_sign, crl_sign, False, False
    )


def _is_rsa(key: PrivateKey) -> bool:
    # RSA key transport (TLS 1.2 RSA suites) needs keyEncipherment; an EC key never has it.
    return isinstance(key, rsa.RSAPrivateKey)


def _aki(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _with_revocation_urls(
    builder: x509.CertificateBuilder, base: str, signer: str
) -> x509.CertificateBuilder:
    crl = x509.DistributionPoint(
        [x509.UniformResourceIdentifier(f"{base}/crl/{signer}.crl")], None, None, None
    )
    access = [
        x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(f"{base}/ocsp")
        ),
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS,
            x509.UniformResourceIdentifier(f"{base}/ca/{signer}.cer"),
        ),
    ]
    return _add(
        builder, (x509.CRLDistributionPoints([crl]), False), (x509.AuthorityInformationAccess(access), False)
    )
