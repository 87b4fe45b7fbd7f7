"""Everything the bench's servers and clients read from disk, written into one temporary directory.

A dev QTSP (its root + issuing CA is the trust bundle), the gateway's server certificate, the
TPP's QWAC (EC P-256) and QSealC (RSA-2048), the authorization server's RSA key, its JWKS file
and one RS256 access token, the two policy sets and the gateway settings files.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.eidas.issue import DevCA, IssuedCertificate, write_pem

ISSUER = "https://auth.bank.example"
AUDIENCE = "psd2-gateway"
TARGET = "/v1/payments/sepa-credit-transfers"
ORG_ID = "PSDBE-NBB-0123456789"


@dataclass(frozen=True)
class Material:
    directory: Path
    trust: Path
    server_cert: Path
    server_key: Path
    qwac_cert: Path
    qwac_key: Path
    seal: IssuedCertificate
    jwks: Path
    token: str


def create(directory: Path) -> Material:
    """Issue the PKI and the token into ``directory``."""
    ca = DevCA.create("Bench QTSP")
    trust = directory / "trust.pem"
    write_pem(trust, ca.bundle_pem())
    server = ca.issue_server(["localhost"], ["127.0.0.1"])
    qwac = ca.issue_qwac(organization_id=ORG_ID)
    seal = ca.issue_qseal(organization_id=ORG_ID, key_type="rsa2048")
    paths = {}
    for name, issued in (("server", server), ("qwac", qwac)):
        paths[name] = (directory / f"{name}.pem", directory / f"{name}.test-key.pem")
        write_pem(paths[name][0], issued.chain_pem())
        write_pem(paths[name][1], issued.key_pem(), private=True)
    jwks, token = authorization_server(directory)
    return Material(directory, trust, *paths["server"], *paths["qwac"], seal, jwks, token)


def authorization_server(directory: Path) -> tuple[Path, str]:
    """A JWKS file with one RSA-2048 key and an RS256 token valid for the whole bench."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    path = directory / "jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "bench-rsa", "use": "sig", "alg": "RS256"}]}))
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + 3000,
        "scope": "pisp",
        "client_id": "bench-tpp",
    }
    return path, jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench-rsa"})


def full_chain_policies(m: Material) -> str:
    """The Berlin Group chain for one sealed POST route; limits high enough never to bite."""
    return f"""\
defaults:
  policies:
    - request-id
    - tpp-status
    - request-id-replay: {{window-s: 86400}}
    - rate-limit:
        key: "{{tpp}}"
        limits:
          - {{count: 1000000, per: 1s, name: burst}}
          - {{count: 100000000, per: 1d, name: daily}}
routes:
  - name: pis-payments
    service: PIS
    path: /v1/payments/**
    methods: [POST]
    policies:
      - tpp-role: {{any-of: [PSP_PI]}}
      # date-skew-s: the request pool is sealed once at start-up and replayed for minutes.
      - qseal-signature: {{date-skew-s: 3600}}
      - oauth2-token:
          issuer: {ISSUER}
          audience: {AUDIENCE}
          jwks-file: {m.jwks}
          algorithms: [RS256]
      # PSU-IP-Address is sent: the PSU is present, so nothing is counted (and a high max).
      - access-frequency: {{max-per-day: 1000}}
"""


NO_POLICIES = """\
routes:
  - name: pis-payments
    service: PIS
    path: /v1/payments/**
    methods: [POST]
    policies: []
"""


def write_gateway_config(
    m: Material, name: str, policies: str, *, store_url: str, core_url: str, port: int
) -> Path:
    """A policy-set directory and a settings file for one gateway configuration (one port)."""
    policy_dir = m.directory / f"policies-{name}"
    policy_dir.mkdir(exist_ok=True)
    (policy_dir / "routes.yaml").write_text(policies)
    settings = m.directory / f"gateway-{name}-{port}.yaml"
    settings.write_text(
        f"""\
listen: {{host: 127.0.0.1, port: {port}, backlog: 1024}}
tls:
  cert: {m.server_cert}
  key: {m.server_key}
  client-ca: {m.trust}
upstream: {{url: "{core_url}", max-connections: 256}}
# budget-ms: a saturated worker's own queueing counts against the store budget (see README).
store: {{url: "{store_url}", budget-ms: 1000}}
metrics: {{enabled: true, host: 127.0.0.1, port: 0}}
policies: {policy_dir}
log-level: info
"""
    )
    return settings
