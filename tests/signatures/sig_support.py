"""Factories shared by the signature tests: the published test keys, certificates, a sealed request."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from gateway.signatures.verify import PrivateKey

DATA = Path(__file__).parent / "data"


@cache
def published_keys() -> dict[str, Any]:
    """RFC 9421 Appendix B.1 and draft-cavage Appendix C keys: public test keys, never secrets."""
    return json.loads((DATA / "published_test_keys.json").read_text())  # type: ignore[no-any-return]


def rfc_private(name: str) -> Any:
    return serialization.load_pem_private_key(published_keys()["rfc9421"][name]["private"].encode(), None)


def rfc_public(name: str) -> Any:
    return serialization.load_pem_public_key(published_keys()["rfc9421"][name]["public"].encode())


def shared_secret() -> bytes:
    return base64.b64decode(published_keys()["rfc9421"]["test-shared-secret"]["base64"])


def cavage_keys() -> tuple[Any, Any]:
    test = published_keys()["cavage"]["Test"]
    private = serialization.load_pem_private_key(test["private"].encode(), None)
    return private, serialization.load_pem_public_key(test["public"].encode())


def issuer_name() -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "D-Trust GmbH"),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, "NTRDE-HRB74346"),
            x509.NameAttribute(NameOID.COMMON_NAME, "D-TRUST CA 2-1 2015"),
        ]
    )


def self_signed(key: PrivateKey, serial: int = 0x9FA1, issuer: x509.Name | None = None) -> x509.Certificate:
    """A certificate for ``key`` with a chosen serial and"
    " issuer; the signature checks ignore who signed it."""
    now = datetime.now(UTC)
    name = issuer or issuer_name()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Dev TPP Ltd")]))
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
    )
    algorithm = (
        None if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) else hashes.SHA256()
    )
    return builder.sign(key, algorithm)


@cache
def key_of(kind: str) -> PrivateKey:
    if kind == "rsa2048":
        return rsa.generate_private_key(65537, 2048)
    if kind == "rsa3072":
        return rsa.generate_private_key(65537, 3072)
    if kind == "rsa1024":
        return rsa.generate_private_key(65537, 1024)
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    raise ValueError(kind)


PAYMENT_BODY = b'{"instructedAmount": {"currency": "EUR", "amount": "123.50"}, "creditorName": "Merchant123"}'


def payment_headers() -> dict[str, str]:
    return {
        "X-Request-ID": "99391c7e-ad88-49ec-a2ad-99ddcb1f7721",
        "PSU-ID": "PSU-1234",
        "TPP-Redirect-URI": "https://tpp.example/cb?state=a,b",
        "Date": "Sun, 21 Jun 2025 10:00:00 GMT",
        "Content-Type": "application/json",
    }
