"""The dev QTSP issues certificates shaped like real PSD2 ones, and they chain to its root."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.eidas import oids
from gateway.eidas.issue import DevCA, IssuedCertificate, KeyType, issue_crl

SERVER_AUTH, CLIENT_AUTH = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH


E = TypeVar("E", bound=x509.ExtensionType)


def ext(cert: x509.Certificate, kind: type[E]) -> E:
    return cert.extensions.get_extension_for_class(kind).value


def test_chain(dev_ca: DevCA) -> None:
    """Leaf -> issuing CA -> root verify, and chain_pem holds leaf then issuing CA."""
    issued = dev_ca.issue_qwac()
    issued.cert.verify_directly_issued_by(dev_ca.issuing.cert)
    dev_ca.issuing.cert.verify_directly_issued_by(dev_ca.root.cert)
    chain = x509.load_pem_x509_certificates(issued.chain_pem())
    assert chain == [issued.cert, dev_ca.issuing.cert]
    assert x509.load_pem_x509_certificates(dev_ca.bundle_pem()) == [dev_ca.root.cert, dev_ca.issuing.cert]


@pytest.mark.parametrize(
    ("kind", "key_type", "digital_signature", "non_repudiation", "key_encipherment"),
    [
        ("qwac", "ec-p256", True, False, False),
        ("qwac", "rsa2048", True, False, True),
        ("qseal", "ec-p256", True, True, False),
        ("qseal", "rsa2048", True, True, False),
    ],
)
def test_key_usage(
    dev_ca: DevCA,
    kind: str,
    key_type: KeyType,
    digital_signature: bool,
    non_repudiation: bool,
    key_encipherment: bool,
) -> None:
    """QWAC: digitalSignature (+keyEncipherment for RSA); QSealC: digitalSignature + nonRepudiation."""
    issue = dev_ca.issue_qwac if kind == "qwac" else dev_ca.issue_qseal
    usage = ext(issue(key_type=key_type).cert, x509.KeyUsage)
    assert (usage.digital_signature, usage.content_commitment, usage.key_encipherment) == (
        digital_signature,
        non_repudiation,
        key_encipherment,
    )


@pytest.mark.parametrize(
    ("client_auth", "usages"), [(True, [SERVER_AUTH, CLIENT_AUTH]), (False, [SERVER_AUTH])]
)
def test_qwac_eku_and_policies(dev_ca: DevCA, client_auth: bool, usages: list[x509.ObjectIdentifier]) -> None:
    """A QWAC has serverAuth (+clientAuth) and the QCP-w / QCP-w-psd2 policies."""
    cert = dev_ca.issue_qwac(client_auth_eku=client_auth).cert
    assert list(ext(cert, x509.ExtendedKeyUsage)) == usages
    policies = [p.policy_identifier for p in ext(cert, x509.CertificatePolicies)]
    assert policies == [oids.POLICY_QCP_W, oids.POLICY_QCP_W_PSD2]


def test_qseal_has_no_eku(dev_ca: DevCA) -> None:
    """A QSealC is not a TLS certificate: no EKU, policy QCP-l."""
    cert = dev_ca.issue_qseal().cert
    with pytest.raises(x509.ExtensionNotFound):
        ext(cert, x509.ExtendedKeyUsage)
    assert [p.policy_identifier for p in ext(cert, x509.CertificatePolicies)] == [oids.POLICY_QCP_L]


def test_revocation_urls_and_key_identifiers(dev_ca: DevCA) -> None:
    """Leaves point at the local CRL and OCSP URLs, and AKI matches the issuing CA's SKI."""
    cert = dev_ca.issue_qwac().cert
    crl = ext(cert, x509.CRLDistributionPoints)
    assert [n.value for n in crl[0].full_name or []] == ["http://127.0.0.1:8099/crl/issuing.crl"]
    aia = ext(cert, x509.AuthorityInformationAccess)
    assert "http://127.0.0.1:8099/ocsp" in [d.access_location.value for d in aia]
    aki = ext(cert, x509.AuthorityKeyIdentifier)
    ski = ext(dev_ca.issuing.cert, x509.SubjectKeyIdentifier)
    assert aki.key_identifier == ski.digest


def test_no_revocation_urls_by_default(tmp_path: Path, dev_ca: DevCA) -> None:
    """Without a base URL there is no CRL DP or AIA; the URL is not part of what save/load keep."""
    dev_ca.save(tmp_path)
    cert = DevCA.load(tmp_path).issue_qwac().cert
    with pytest.raises(x509.ExtensionNotFound):
        ext(cert, x509.CRLDistributionPoints)


@pytest.mark.parametrize(
    ("offset_before", "offset_after"),
    [(timedelta(days=-30), timedelta(days=-1)), (timedelta(days=10), timedelta(days=20))],
)
def test_explicit_validity(dev_ca: DevCA, offset_before: timedelta, offset_after: timedelta) -> None:
    """Already expired and not yet valid certificates can be issued on purpose."""
    now = datetime.now(UTC).replace(microsecond=0)
    cert = dev_ca.issue_qseal(not_before=now + offset_before, not_after=now + offset_after).cert
    assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (now + offset_before, now + offset_after)


def test_server_certificate(dev_ca: DevCA) -> None:
    """The gateway's server cert names its hosts and IPs and is for serverAuth only."""
    cert = dev_ca.issue_server(["localhost", "gw.example"], ["127.0.0.1", "::1"]).cert
    san = ext(cert, x509.SubjectAlternativeName)
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "gw.example"]
    assert san.get_values_for_type(x509.IPAddress) == [ip_address("127.0.0.1"), ip_address("::1")]
    assert list(ext(cert, x509.ExtendedKeyUsage)) == [SERVER_AUTH]
    assert not ext(cert, x509.BasicConstraints).ca


@pytest.mark.parametrize("key_type", ["rsa2048", "ec-p256"])
def test_save_load_round_trip(tmp_path: Path, key_type: KeyType) -> None:
    """A saved CA loads back with the same certificates and keys; key files are 0600."""
    ca = DevCA.create("Test QTSP", key_type)
    ca.save(tmp_path)
    loaded = DevCA.load(tmp_path)
    assert (loaded.root.cert, loaded.issuing.cert) == (ca.root.cert, ca.issuing.cert)
    assert loaded.issuing.key_pem() == ca.issuing.key_pem()
    assert stat.S_IMODE((tmp_path / "issuing.test-key.pem").stat().st_mode) == 0o600
    loaded.issue_qwac().cert.verify_directly_issued_by(ca.issuing.cert)


def test_crl(dev_ca: DevCA) -> None:
    """The CRL is signed by the issuing CA and lists the revoked serials."""
    revoked: IssuedCertificate = dev_ca.issue_qwac()
    now = datetime.now(UTC).replace(microsecond=0)
    crl = issue_crl(dev_ca, [revoked.cert.serial_number], now, now + timedelta(days=1))
    assert crl.is_signature_valid(dev_ca.issuing.key.public_key())
    assert crl.get_revoked_certificate_by_serial_number(revoked.cert.serial_number) is not None
    assert crl.next_update_utc == now + timedelta(days=1)
