"""Factories of the policy tests: an Exchange as the pipeline hands it to a policy, and signed tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.config import Where, build
from gateway.eidas.identity import TppIdentity
from gateway.eidas.oids import Role
from gateway.exchange import Exchange
from gateway.identity import Identity
from gateway.registry import TppEntry
from gateway.routes import Route, Service, compile_template
from gateway.target import Target

# 2025-06-21T12:00:00+02:00, a Saturday.
NOW_MS = 1_750_500_000_000
ORG_ID = "PSDBE-NBB-0123456789"
CERT_DER = b"0\x82 the TPP's certificate"
ISSUER = "https://auth.bank.example"
AUDIENCE = "psd2-gateway"


def exchange(
    *,
    method: str = "GET",
    path: str = "/v1/accounts/acc-1/balances",
    headers: Mapping[str, str] | None = None,
    now_ms: int = NOW_MS,
    service: Service = "AIS",
    certificate_der: bytes = CERT_DER,
    organization_id: str = ORG_ID,
    client_ids: Sequence[str] = (),
) -> Exchange:
    """An Exchange after identification and routing: the state a policy sees."""
    ex = Exchange(
        method=method,
        target=Target(path, ""),
        headers=CIMultiDictProxy(CIMultiDict(headers or {})),
        peer_ip="127.0.0.1",
        started=0.0,
        now_ms=now_ms,
    )
    ex.identity = identity(certificate_der, organization_id)
    ex.registration = TppEntry(client_ids=list(client_ids))
    ex.roles = frozenset(Role)
    ex.route = Route("test", service, frozenset({method}), "/**", compile_template("/**"), None, 1024, ())
    return ex


def identity(der: bytes = CERT_DER, organization_id: str = ORG_ID) -> Identity:
    fingerprint = hashlib.sha256(der).hexdigest()
    epoch = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    tpp = TppIdentity(
        organization_id=organization_id,
        organization_name="Test TPP",
        country="BE",
        roles=frozenset(Role),
        nca_name="National Bank of Belgium",
        nca_id="BE-NBB",
        qc_types=frozenset({"web"}),
        fingerprint_sha256=fingerprint,
        serial=1,
        issuer_rfc4514="CN=Test QTSP",
        subject_rfc4514=f"CN=Test TPP,2.5.4.97={organization_id}",
        not_before=epoch,
        not_after=epoch + dt.timedelta(days=365),
    )
    return Identity(der, fingerprint, tpp, "tls")


def config(model: type[Any], **data: Any) -> Any:
    """A policy config from YAML-shaped keys (``leeway_s`` -> ``leeway-s``), checked like at load."""
    return build(model, {k.replace("_", "-"): v for k, v in data.items()}, Where("test.yaml", "policy"))


class Signer:
    """The bank's authorization server in tests: its keys, a JWKS file, and tokens it issues."""

    def __init__(self, directory: Path) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.jwks_file = directory / "jwks.json"
        keys = [self._jwk(self.rsa.public_key(), "rsa-1"), self._jwk(self.ec.public_key(), "ec-1")]
        self.jwks_file.write_text(json.dumps({"keys": keys}))
        self.rsa_pem = directory / "rsa-public.pem"
        self.rsa_pem.write_bytes(self.public_pem())

    @staticmethod
    def _jwk(public: Any, kid: str) -> dict[str, Any]:
        algorithm = (
            jwt.algorithms.RSAAlgorithm
            if isinstance(public, rsa.RSAPublicKey)
            else jwt.algorithms.ECAlgorithm
        )
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(public))
        return {**jwk, "kid": kid, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.rsa.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def claims(self, now_ms: int = NOW_MS, **changes: Any) -> dict[str, Any]:
        now = now_ms // 1000
        base: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + 3540,
            "scope": "aisp",
            "client_id": "tpp-app",
        }
        base.update(changes)
        return {k: v for k, v in base.items() if v is not None}

    def token(
        self, now_ms: int = NOW_MS, *, alg: str = "RS256", kid: str | None = "rsa-1", **changes: Any
    ) -> str:
        """A token signed with the RSA key (or EC for ES256); a claim set to None is left out."""
        key = self.ec if alg.startswith("ES") else self.rsa
        headers = {"kid": kid} if kid else {}
        return jwt.encode(self.claims(now_ms, **changes), key, algorithm=alg, headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
