"""``oauth2-token``: the OAuth2 access token of the consent, verified at the edge.

Seed 003: "the AISP has to proceed with an OAuth2 authorization in order to retrieve a
time-limited access token. This access token is mandatory to access all the AIS PSD2 APIs"
and "The duration of access token is 1 hour" (hence ``max-age-s: 3600``). Seed 000: "to
access payment resources, you don't need to provide an access token in requests if the
payment has been initiated through a redirect OAuth2 workflow" (hence ``optional-when``).

- RFC 6750: the token comes as ``Authorization: Bearer <token>``; a failure answers 401 with
  ``WWW-Authenticate: Bearer error="invalid_token"`` (no error code when no token was sent,
  section 3.1). The Berlin Group code is TOKEN_EXPIRED or TOKEN_INVALID; the token itself is
  never echoed.
- RFC 8725 section 2.1 / 3.1: only the configured asymmetric algorithms are accepted. HS* and
  ``none`` are refused at load and there is deliberately no shared-secret option: a secret
  would let the gateway (and anyone reading its config) mint tokens, and mixing HMAC with
  public keys is the key-confusion attack.
- RFC 8705 section 3: a token with ``cnf.x5t#S256`` is bound to the TPP's certificate and is
  only accepted over a connection presenting that certificate.
- RFC 9068: ``client_id`` (or ``azp``) names the client the token was issued to; it must be
  one of the TPP's registered client ids when the TPP registry lists any.

Scope: the route's service needs the configured scope (``AIS: aisp`` ...); a Berlin Group
style ``AIS:<consentId>`` scope entry also grants the service, for that consent only.
When the request carries ``Consent-ID``, the token's ``consent-claim`` (or such a scope
entry) must name it. Signature and time checks are cached per token for at most 60 s and
never beyond the token's own validity; the bindings are checked on every request.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import jwt
from jwt.types import Options

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode
from gateway.registry import TppEntry
from gateway.routes import METHODS, Service
from gateway.token_keys import KeyRing, TokenKey

# RFC 8725 sections 2.1 and 3.1: asymmetric algorithms only; HS* and "none" are not even spellable.
Algorithm = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
# RFC 6750 section 2.1: b64token.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_NOT_BEARER = "Header Authorization must be 'Bearer <access token>'."
_PYJWT_ERRORS: Mapping[type[Exception], str] = {
    jwt.InvalidIssuerError: "The access token's issuer is not accepted.",
    jwt.InvalidAudienceError: "The access token's audience is not accepted.",
}


@dataclass(frozen=True)
class OptionalWhen:
    methods: list[str] = doc("Requests with one of these methods need no token (empty: any).", factory=list)
    path_regex: str = doc("...and whose raw path fully matches this regex (empty: any).", default="")

    def __post_init__(self) -> None:
        if not self.methods and not self.path_regex:
            raise ValueError("an optional-when entry needs methods, path-regex or both")
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ValueError(f"unknown method {bad[0]!r} (allowed: {', '.join(METHODS)})")
        try:
            _ = self.pattern
        except re.error as e:
            raise ValueError(f"path-regex is not a valid regex: {e}") from e

    @cached_property
    def pattern(self) -> re.Pattern[str] | None:
        return re.compile(self.path_regex) if self.path_regex else None

    def matches(self, method: str, path: str) -> bool:
        if self.methods and method not in self.methods:
            return False
        return self.pattern is None or self.pattern.fullmatch(path) is not None


@dataclass(frozen=True)
class OAuth2TokenConfig:
    issuer: str = doc("Required iss of the token (the bank's authorization server).")
    audience: str | list[str] = doc("Accepted aud value(s); the token must name one of them.")
    jwks_file: Path | None = doc("JWKS file of the authorization server; keys chosen by kid.", default=None)
    public_keys: list[Path] = doc(
        "PEM public keys or certificates, tried for tokens whose kid is unknown.", factory=list
    )
    algorithms: list[Algorithm] = doc(
        "Accepted signature algorithms (asymmetric only).", factory=lambda: ["RS256", "PS256", "ES256"]
    )
    leeway_s: int = doc("Clock skew tolerated on exp, nbf and iat.", default=30, minimum=0, maximum=300)
    max_age_s: int = doc(
        "Reject tokens issued longer ago (iat) than this; 0: no limit.", default=3600, minimum=0
    )
    scopes: dict[Service, str] = doc(
        "Scope each service needs (empty value or unlisted service: none).",
        factory=lambda: {"AIS": "aisp", "PIS": "pisp", "PIIS": "piisp"},
    )
    consent_claim: str = doc(
        "Claim that must equal the Consent-ID header (empty: no check).", default="consent_id"
    )
    require_certificate_binding: bool = doc("Require cnf.x5t#S256 (RFC 8705) in every token.", default=False)
    require_client_binding: bool = doc(
        "Reject when the token's client cannot be matched to the TPP's registered client ids.", default=False
    )
    optional_when: list[OptionalWhen] = doc("Requests that may come without a token.", factory=list)
    cache_ttl_s: int = doc(
        "Seconds a verified token is remembered (0: off).", default=60, minimum=0, maximum=60
    )
    cache_entries: int = doc("Most tokens remembered at once.", default=10_000, minimum=1)

    def __post_init__(self) -> None:
        if not self.audience:
            raise ValueError("audience must name at least one value")
        _ = self.keys  # load now, so a bad key file fails at load with its YAML place

    @cached_property
    def keys(self) -> KeyRing:
        return KeyRing.load(self.jwks_file, self.public_keys, frozenset(self.algorithms))


@dataclass(frozen=True, slots=True)
class _Verified:
    """The cached verdict of signature and time checks: claims, scopes, when it holds."""

    claims: Mapping[str, Any]
    scopes: frozenset[str]
    valid_from_ms: int
    valid_until_ms: int


class OAuth2TokenPolicy:
    name: ClassVar[str] = "oauth2-token"
    Config: ClassVar[type[OAuth2TokenConfig]] = OAuth2TokenConfig
    default_fail: ClassVar[FailMode] = "closed"

    def __init__(self, config: OAuth2TokenConfig) -> None:
        self.config = config
        self.keys = config.keys
        self.algorithms = frozenset(config.algorithms)
        self.audience = [config.audience] if isinstance(config.audience, str) else list(config.audience)
        self.leeway_s = config.leeway_s
        self.scopes: dict[str, str] = {service: scope for service, scope in config.scopes.items() if scope}
        self.optional = tuple(config.optional_when)
        self.options: Options = {
            "verify_exp": False,  # times are checked against the injected clock, below
            "verify_nbf": False,
            "verify_iat": False,
            "require": ["exp", "nbf", "iss", "aud"] + (["iat"] if config.max_age_s else []),
        }
        self._cache: dict[str, _Verified] = {}

    async def enforce(self, ex: Exchange) -> None:
        token = _bearer_token(ex)
        if token is None:
            if any(rule.matches(ex.method, ex.target.path) for rule in self.optional):
                return
            raise _reject(Code.TOKEN_INVALID, "An access token is required (Authorization: Bearer).", None)
        verified = self._verified(token, ex.now_ms)
        service = ex.route.service if ex.route else "OTHER"
        consent_id = _consent_id(ex)
        self._check_scope(verified.scopes, service, consent_id)
        self._check_consent(verified, service, consent_id)
        self._check_certificate(verified.claims, ex)
        self._check_client(verified.claims, ex.registration)
        ex.token_claims = verified.claims

    def _verified(self, token: str, now_ms: int) -> _Verified:
        hit = self._cache.get(token)
        if hit is not None and hit.valid_from_ms <= now_ms < hit.valid_until_ms:
            return hit  # this very text passed the syntax check when it was cached
        if not _B64TOKEN.fullmatch(token):
            raise _invalid(_NOT_BEARER)
        verified = self._verify(token, now_ms)
        if self.config.cache_ttl_s:
            self._remember(token, verified, now_ms)
        return verified

    def _remember(self, token: str, verified: _Verified, now_ms: int) -> None:
        until = min(verified.valid_until_ms, now_ms + self.config.cache_ttl_s * 1000)
        self._cache.pop(token, None)
        if len(self._cache) >= self.config.cache_entries:
            self._cache.pop(next(iter(self._cache)))
        self._cache[token] = _Verified(verified.claims, verified.scopes, verified.valid_from_ms, until)

    def _verify(self, token: str, now_ms: int) -> _Verified:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise _invalid("The access token is not a well-formed JWT.") from e
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise _invalid("The access token's signature algorithm is not accepted.")
        keys = self.keys.candidates(kid if isinstance(kid, str) else None, alg)
        if not keys:
            raise _invalid("The access token is not signed with a known key.")
        claims = self._decode(token, alg, keys)
        valid_from, valid_until = self._check_times(claims, now_ms / 1000)
        frozen = MappingProxyType(claims)
        return _Verified(frozen, _granted_scopes(claims), int(valid_from * 1000), int(valid_until * 1000))

    def _decode(self, token: str, alg: str, keys: Sequence[TokenKey]) -> dict[str, Any]:
        for candidate in keys:
            try:
                return jwt.decode(
                    token,
                    candidate.key,
                    algorithms=[alg],
                    audience=self.audience,
                    issuer=self.config.issuer,
                    options=self.options,
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.MissingRequiredClaimError as e:
                raise _invalid(f"The access token lacks the {e.claim} claim.") from e
            except jwt.PyJWTError as e:
                raise _invalid(_PYJWT_ERRORS.get(type(e), "The access token is not valid.")) from e
        raise _invalid("The access token's signature is not valid.")

    def _check_times(self, claims: Mapping[str, Any], now: float) -> tuple[float, float]:
        """(valid from, valid until) in epoch seconds, or the rejection (RFC 7519 4.1.4-4.1.6)."""
        leeway = self.leeway_s
        valid_from, valid_until = _number(claims, "nbf") - leeway, _number(claims, "exp") + leeway
        if now >= valid_until:
            raise _expired("The access token has expired.")
        if self.config.max_age_s:
            iat = _number(claims, "iat")
            valid_from = max(valid_from, iat - leeway)
            valid_until = min(valid_until, iat + self.config.max_age_s + leeway)
            if now >= valid_until:
                raise _expired(f"The access token is older than {self.config.max_age_s} seconds.")
        if now < valid_from:
            raise _invalid("The access token is not valid yet (nbf or iat in the future).")
        return valid_from, valid_until

    def _check_scope(self, granted: frozenset[str], service: str, consent_id: str | None) -> None:
        required = self.scopes.get(service)
        if required is None or required in granted:
            return
        prefix = f"{service}:"
        if any(s.startswith(prefix) and (consent_id is None or s == prefix + consent_id) for s in granted):
            return
        raise _invalid(f"The access token does not grant the scope {required}.")

    def _check_consent(self, verified: _Verified, service: str, consent_id: str | None) -> None:
        claim = self.config.consent_claim
        if not claim or consent_id is None:
            return
        if verified.claims.get(claim) == consent_id or f"{service}:{consent_id}" in verified.scopes:
            return
        raise _invalid("The access token is not bound to this Consent-ID.")

    def _check_certificate(self, claims: Mapping[str, Any], ex: Exchange) -> None:
        cnf = claims.get("cnf")
        bound = cnf.get("x5t#S256") if isinstance(cnf, Mapping) else None
        if bound is None:
            if self.config.require_certificate_binding:
                raise _invalid("The access token is not bound to a certificate (cnf x5t#S256).")
            return
        if ex.identity is None or bound != certificate_thumbprint(ex.identity.certificate_der):
            raise _invalid("The access token is bound to another certificate.")

    def _check_client(self, claims: Mapping[str, Any], registration: TppEntry | None) -> None:
        registered = registration.client_ids if registration is not None else []
        client = claims.get("client_id", claims.get("azp"))
        if registered and client not in registered:
            raise _invalid("The access token was not issued to a client registered for this TPP.")
        if not registered and self.config.require_client_binding:
            raise _invalid("The access token cannot be bound to a client registered for this TPP.")


def certificate_thumbprint(der: bytes) -> str:
    """RFC 8705 section 3.1: base64url(SHA-256(DER)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def _bearer_token(ex: Exchange) -> str | None:
    """The token of ``Authorization: Bearer``; its b64token syntax is checked before it is verified."""
    values = ex.headers.getall("Authorization", [])
    if not values:
        return None
    if len(values) > 1:
        raise _invalid("Header Authorization must appear once.")
    scheme, _, token = values[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        raise _invalid(_NOT_BEARER)
    return token.strip()


def _consent_id(ex: Exchange) -> str | None:
    values = ex.headers.getall("Consent-ID", [])
    if len(values) > 1:
        raise Reject(Code.FORMAT_ERROR, "Header Consent-ID must appear once.")
    return values[0] if values else None


def _granted_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    scope, scp = claims.get("scope"), claims.get("scp")
    if isinstance(scope, str):
        return frozenset(scope.split())
    if isinstance(scp, list):
        return frozenset(s for s in scp if isinstance(s, str))
    return frozenset()


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"The access token's {name} claim must be a number.")
    return float(value)


def _invalid(text: str) -> Reject:
    return _reject(Code.TOKEN_INVALID, text, "invalid_token")


def _expired(text: str) -> Reject:
    return _reject(Code.TOKEN_EXPIRED, text, "invalid_token")


def _reject(code: Code, text: str, error: str | None) -> Reject:
    challenge = f'Bearer error="{error}"' if error else "Bearer"
    return Reject(code, text, headers={"WWW-Authenticate": challenge})
