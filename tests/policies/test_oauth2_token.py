"""oauth2-token: signature, time, scope and bindings of the access token, one table row per rule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from factories import AUDIENCE, CERT_DER, ISSUER, NOW_MS, Signer, bearer, config, exchange

from gateway.config import ConfigError
from gateway.errors import Reject
from gateway.policies.oauth2_token import OAuth2TokenConfig, OAuth2TokenPolicy, certificate_thumbprint
from gateway.policyset import load_policy_set

NOW = NOW_MS // 1000
OTHER_DER = b"0\x82 another TPP's certificate"


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return Signer(tmp_path_factory.mktemp("keys"))


def policy(signer: Signer, **settings: Any) -> OAuth2TokenPolicy:
    base = {"issuer": ISSUER, "audience": AUDIENCE, "jwks_file": str(signer.jwks_file)}
    return OAuth2TokenPolicy(config(OAuth2TokenConfig, **{**base, **settings}))


async def outcome(p: OAuth2TokenPolicy, **exchange_args: Any) -> str:
    """'pass', or the Berlin Group code of the rejection."""
    try:
        await p.enforce(exchange(**exchange_args))
    except Reject as reject:
        return reject.code.value
    return "pass"


def unsigned(claims: dict[str, Any], alg: str, secret: bytes = b"") -> str:
    """A token built by hand: pyjwt refuses to make these (alg none, a PEM key as HMAC secret)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing_input = f"{part({'alg': alg, 'typ': 'JWT', 'kid': 'rsa-1'})}.{part(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest() if secret else b""
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


Case = tuple[str, Callable[[Signer], str], dict[str, Any], str]
TOKEN_CASES: list[Case] = [
    ("valid RS256", lambda s: s.token(), {}, "pass"),
    ("valid PS256", lambda s: s.token(alg="PS256"), {}, "pass"),
    ("valid ES256 by kid", lambda s: s.token(alg="ES256", kid="ec-1"), {}, "pass"),
    ("expired", lambda s: s.token(exp=NOW - 31), {}, "TOKEN_EXPIRED"),
    ("expired within leeway", lambda s: s.token(exp=NOW - 29), {}, "pass"),
    ("older than max-age", lambda s: s.token(iat=NOW - 3631, exp=NOW + 600), {}, "TOKEN_EXPIRED"),
    ("nbf in the future", lambda s: s.token(nbf=NOW + 31), {}, "TOKEN_INVALID"),
    ("nbf within leeway", lambda s: s.token(nbf=NOW + 29), {}, "pass"),
    ("iat in the future", lambda s: s.token(iat=NOW + 120), {}, "TOKEN_INVALID"),
    ("no exp", lambda s: s.token(exp=None), {}, "TOKEN_INVALID"),
    ("no nbf", lambda s: s.token(nbf=None), {}, "TOKEN_INVALID"),
    ("exp not a number", lambda s: s.token(exp="tomorrow"), {}, "TOKEN_INVALID"),
    ("wrong issuer", lambda s: s.token(iss="https://evil.example"), {}, "TOKEN_INVALID"),
    ("wrong audience", lambda s: s.token(aud="other-api"), {}, "TOKEN_INVALID"),
    ("wrong scope for AIS", lambda s: s.token(scope="pisp"), {}, "TOKEN_INVALID"),
    ("pisp scope on PIS", lambda s: s.token(scope="openid pisp"), {"service": "PIS"}, "pass"),
    ("scp list", lambda s: s.token(scope=None, scp=["aisp"]), {}, "pass"),
    ("OTHER needs no scope", lambda s: s.token(scope=None), {"service": "OTHER"}, "pass"),
    ("alg not allowed", lambda s: s.token(alg="RS512"), {}, "TOKEN_INVALID"),
    ("unknown kid", lambda s: s.token(kid="rotated-away"), {}, "TOKEN_INVALID"),
    ("RSA token under the EC kid", lambda s: s.token(kid="ec-1"), {}, "TOKEN_INVALID"),
    ("alg none", lambda s: unsigned(s.claims(), "none"), {}, "TOKEN_INVALID"),
    (
        "HS256 with the public key",
        lambda s: unsigned(s.claims(), "HS256", s.public_pem()),
        {},
        "TOKEN_INVALID",
    ),
    ("tampered payload", lambda s: _tampered(s.token()), {}, "TOKEN_INVALID"),
    ("not a JWT", lambda s: "abc.def", {}, "TOKEN_INVALID"),
    ("consent matches", lambda s: s.token(consent_id="c-1"), {"headers": {"Consent-ID": "c-1"}}, "pass"),
    (
        "consent mismatch",
        lambda s: s.token(consent_id="c-1"),
        {"headers": {"Consent-ID": "c-2"}},
        "TOKEN_INVALID",
    ),
    ("consent claim absent", lambda s: s.token(), {"headers": {"Consent-ID": "c-1"}}, "TOKEN_INVALID"),
    ("AIS:<consent> scope", lambda s: s.token(scope="AIS:c-1"), {"headers": {"Consent-ID": "c-1"}}, "pass"),
    (
        "AIS:<other consent>",
        lambda s: s.token(scope="AIS:c-1"),
        {"headers": {"Consent-ID": "c-2"}},
        "TOKEN_INVALID",
    ),
    ("cnf matches", lambda s: s.token(cnf={"x5t#S256": certificate_thumbprint(CERT_DER)}), {}, "pass"),
    (
        "cnf mismatch",
        lambda s: s.token(cnf={"x5t#S256": certificate_thumbprint(OTHER_DER)}),
        {},
        "TOKEN_INVALID",
    ),
    ("client id registered", lambda s: s.token(), {"client_ids": ["tpp-app"]}, "pass"),
    ("client id mismatch", lambda s: s.token(), {"client_ids": ["tpp-other"]}, "TOKEN_INVALID"),
    (
        "azp instead of client_id",
        lambda s: s.token(client_id=None, azp="tpp-app"),
        {"client_ids": ["tpp-app"]},
        "pass",
    ),
    ("no client claim", lambda s: s.token(client_id=None), {"client_ids": ["tpp-app"]}, "TOKEN_INVALID"),
]


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "aisp pisp piisp"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    ("make", "args", "expected"), [c[1:] for c in TOKEN_CASES], ids=[c[0] for c in TOKEN_CASES]
)
async def test_token_table(
    signer: Signer, make: Callable[[Signer], str], args: dict[str, Any], expected: str
) -> None:
    """Each token gets exactly its verdict: pass, TOKEN_EXPIRED or TOKEN_INVALID."""
    headers = {**bearer(make(signer)), **args.pop("headers", {})}
    assert await outcome(policy(signer), headers=headers, **args) == expected


async def test_rejection_is_401_with_a_bearer_challenge_and_no_token(signer: Signer) -> None:
    """RFC 6750: 401, WWW-Authenticate error="invalid_token"; the token is not echoed back."""
    token = signer.token(exp=NOW - 3600)
    with pytest.raises(Reject) as caught:
        await policy(signer).enforce(exchange(headers=bearer(token)))
    assert (caught.value.status, caught.value.code.value) == (401, "TOKEN_EXPIRED")
    assert caught.value.headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    assert token not in caught.value.text and token.split(".")[1] not in caught.value.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwdw=="},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer a b"},
    ],
    ids=["missing", "basic", "empty bearer", "two words"],
)
async def test_missing_or_malformed_header(signer: Signer, headers: dict[str, str]) -> None:
    """No token, or not a Bearer token: 401 TOKEN_INVALID (no error code when nothing was sent)."""
    with pytest.raises(Reject) as caught:
        await policy(signer).enforce(exchange(headers=headers))
    assert (caught.value.status, caught.value.code.value) == (401, "TOKEN_INVALID")
    challenge = "Bearer" if not headers else 'Bearer error="invalid_token"'
    assert caught.value.headers["WWW-Authenticate"] == challenge


async def test_valid_token_sets_the_claims_for_later_policies(signer: Signer) -> None:
    """ex.token_claims holds the verified claims (auth_time for consent-window rules)."""
    ex = exchange(headers=bearer(signer.token(auth_time=NOW - 100)))
    await policy(signer).enforce(ex)
    assert ex.token_claims is not None and ex.token_claims["auth_time"] == NOW - 100


OPTIONAL = [{"methods": ["GET"], "path-regex": "/v1/payments/[^/]+/[^/]+(/status)?"}]
OPTIONAL_CASES: list[tuple[str, str, str, bool, str]] = [
    ("payment status without token", "GET", "/v1/payments/sepa/p-1/status", False, "pass"),
    ("payment without token", "GET", "/v1/payments/sepa/p-1", False, "pass"),
    ("payment initiation without token", "POST", "/v1/payments/sepa/p-1", False, "TOKEN_INVALID"),
    (
        "path not matched in full",
        "GET",
        "/v1/payments/sepa/p-1/cancellation-authorisations",
        False,
        "TOKEN_INVALID",
    ),
    ("bad token on an optional path", "GET", "/v1/payments/sepa/p-1", True, "TOKEN_INVALID"),
]


@pytest.mark.parametrize(
    ("method", "path", "bad_token", "expected"),
    [c[1:] for c in OPTIONAL_CASES],
    ids=[c[0] for c in OPTIONAL_CASES],
)
async def test_optional_when(signer: Signer, method: str, path: str, bad_token: bool, expected: str) -> None:
    """Seed 000: payment resources need no token; a token that is sent is still verified."""
    p = policy(signer, optional_when=OPTIONAL)
    headers = bearer(signer.token(iss="https://evil.example")) if bad_token else {}
    assert await outcome(p, method=method, path=path, headers=headers, service="PIS") == expected


async def test_required_bindings(signer: Signer) -> None:
    """require-certificate-binding and require-client-binding make the claims mandatory."""
    p = policy(signer, require_certificate_binding=True, require_client_binding=True)
    bound = signer.token(cnf={"x5t#S256": certificate_thumbprint(CERT_DER)})
    assert await outcome(p, headers=bearer(signer.token()), client_ids=["tpp-app"]) == "TOKEN_INVALID"
    assert await outcome(p, headers=bearer(bound), client_ids=[]) == "TOKEN_INVALID"
    assert await outcome(p, headers=bearer(bound), client_ids=["tpp-app"]) == "pass"


async def test_pem_public_keys_verify_tokens_without_kid(signer: Signer) -> None:
    """public-keys (PEM) are tried for tokens whose kid the JWKS does not know."""
    p = OAuth2TokenPolicy(
        config(OAuth2TokenConfig, issuer=ISSUER, audience=[AUDIENCE, "x"], public_keys=[str(signer.rsa_pem)])
    )
    assert await outcome(p, headers=bearer(signer.token(kid=None))) == "pass"
    assert await outcome(p, headers=bearer(signer.token(alg="ES256", kid=None))) == "TOKEN_INVALID"


async def test_a_hot_token_is_verified_once_but_bound_every_time(
    signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signature and time verdict is cached; certificate binding is still checked per request."""
    calls: list[str] = []
    real = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda token, *a, **kw: calls.append(token) or real(token, *a, **kw))
    p = policy(signer)
    token = signer.token(cnf={"x5t#S256": certificate_thumbprint(CERT_DER)})
    assert await outcome(p, headers=bearer(token)) == "pass"
    assert await outcome(p, headers=bearer(token), now_ms=NOW_MS + 30_000) == "pass"
    assert await outcome(p, headers=bearer(token), certificate_der=OTHER_DER) == "TOKEN_INVALID"
    assert len(calls) == 1
    assert await outcome(p, headers=bearer(token), now_ms=NOW_MS + 61_000) == "pass"
    assert len(calls) == 2, "re-verified after the 60 s cache lifetime"


async def test_cached_token_still_expires(signer: Signer) -> None:
    """A cached verdict never outlives the token's exp (plus leeway)."""
    p = policy(signer)
    token = signer.token(exp=NOW + 10)
    assert await outcome(p, headers=bearer(token)) == "pass"
    assert await outcome(p, headers=bearer(token), now_ms=NOW_MS + 41_000) == "TOKEN_EXPIRED"


async def test_cache_is_bounded(signer: Signer) -> None:
    """cache-entries caps the number of remembered tokens."""
    p = policy(signer, cache_entries=2)
    for n in range(5):
        assert await outcome(p, headers=bearer(signer.token(jti=str(n)))) == "pass"
    assert len(p._cache) == 2


def routes_dir(tmp_path: Path, settings: str) -> Path:
    (tmp_path / "routes.yaml").write_text(
        "routes:\n"
        "  - name: ais\n"
        "    service: AIS\n"
        "    path: /v1/accounts/**\n"
        "    policies:\n"
        "      - oauth2-token:\n"
        f"{settings}"
    )
    return tmp_path


def test_loads_from_yaml(tmp_path: Path, signer: Signer) -> None:
    """A policy set entry with dashed keys builds the policy."""
    settings = (
        f"          issuer: {ISSUER}\n          audience: {AUDIENCE}\n"
        f"          jwks-file: {signer.jwks_file}\n"
        "          optional-when: [{methods: [GET]}]\n"
    )
    route = load_policy_set(routes_dir(tmp_path, settings), max_body_bytes=1024).router.routes[0]
    assert route.policies[0].name == "oauth2-token"


CONFIG_ERRORS: list[tuple[str, str, str]] = [
    (
        "HS256",
        "          algorithms: [RS256, HS256]\n",
        ":10 routes[0].policies[0].oauth2-token.algorithms[1]: must be one of",
    ),
    (
        "none",
        "          algorithms:\n            - none\n",
        ":11 routes[0].policies[0].oauth2-token.algorithms[0]: must be one",
    ),
    (
        "missing jwks file",
        "          jwks-file: /nonexistent/jwks.json\n",
        "jwks-file /nonexistent/jwks.json",
    ),
    (
        "unknown service",
        "          scopes: {AIZ: aisp}\n",
        ":10 routes[0].policies[0].oauth2-token.scopes.AIZ: must be one of AIS",
    ),
    (
        "leeway range",
        "          leeway-s: 900\n",
        ":10 routes[0].policies[0].oauth2-token.leeway-s: must be at most 300",
    ),
    (
        "bad regex",
        "          optional-when: [{path-regex: '('}]\n",
        ":10 routes[0].policies[0].oauth2-token.optional-when[0]: path-regex is not a valid",
    ),
    ("bad method", "          optional-when: [{methods: [FETCH]}]\n", "unknown method 'FETCH'"),
    ("empty rule", "          optional-when: [{}]\n", "needs methods, path-regex or both"),
    (
        "unknown key",
        "          audiences: [x]\n",
        ":10 routes[0].policies[0].oauth2-token.audiences: unknown key",
    ),
]


@pytest.mark.parametrize(
    ("extra", "message"), [c[1:] for c in CONFIG_ERRORS], ids=[c[0] for c in CONFIG_ERRORS]
)
def test_config_errors_name_file_line_and_path(
    tmp_path: Path, signer: Signer, extra: str, message: str
) -> None:
    """A wrong setting fails the load, naming the file, the line and the YAML path."""
    jwks = "" if "jwks-file" in extra else f"          jwks-file: {signer.jwks_file}\n"
    settings = f"          issuer: {ISSUER}\n          audience: {AUDIENCE}\n{jwks}{extra}"
    with pytest.raises(ConfigError) as caught:
        load_policy_set(routes_dir(tmp_path, settings), max_body_bytes=1024)
    assert str(caught.value).startswith(str(tmp_path / "routes.yaml"))
    assert message in str(caught.value)


def test_no_keys_is_a_config_error(tmp_path: Path) -> None:
    """Without jwks-file or public-keys nothing could ever pass: refused at load."""
    settings = f"          issuer: {ISSUER}\n          audience: {AUDIENCE}\n"
    with pytest.raises(ConfigError, match="configure jwks-file or public-keys"):
        load_policy_set(routes_dir(tmp_path, settings), max_body_bytes=1024)
