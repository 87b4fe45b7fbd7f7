"""Build the identity side of the gateway from settings: validator, cache, registry, forwarding."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.caller import CallerIdentifier, IngressSource
from gateway.eidas.validate import CertificateValidator, load_certificates
from gateway.errors import GatewayError
from gateway.forwarding import IdentityForwarding
from gateway.identity import IdentityService, Revocation
from gateway.identity_forward import IdentityTokens
from gateway.ingress import TrustedProxies
from gateway.registry import RegistryHolder
from gateway.settings import Settings


@dataclass
class IdentityComponents:
    caller: CallerIdentifier
    forwarding: IdentityForwarding
    registry: RegistryHolder
    identities: IdentityService


def build_identity(
    settings: Settings, revocation: Revocation | None, clock: Callable[[], float] = time.time
) -> IdentityComponents:
    config = settings.identity
    anchors_path = config.trust_anchors or settings.tls.client_ca
    if anchors_path is None:
        raise GatewayError("identity.trust-anchors (or tls.client-ca): a QTSP CA bundle is required")
    intermediates = load_certificates(config.intermediates) if config.intermediates else []
    validator = CertificateValidator(
        load_certificates(anchors_path),
        intermediates,
        strict_qc_statements=config.strict_qc_statements,
        require_client_auth_eku=config.require_client_auth_eku,
    )
    identities = IdentityService(validator, revocation, cache_ttl_s=config.cache_ttl_s, clock=clock)
    registry = RegistryHolder(config.registry)
    ingress = None
    if config.source == "ingress":
        proxies = TrustedProxies(config.ingress.trusted_proxies)
        ingress = IngressSource(config.ingress.header, config.ingress.format, proxies)
    tokens = IdentityTokens(config.jwt, clock) if config.jwt.enabled else None
    forwarding = IdentityForwarding(
        send_headers=config.forward_headers,
        tokens=tokens,
        token_header=config.jwt.header,
        expiry_warning_days=config.expiry_warning_days,
        always_drop=[config.ingress.header],
        clock=clock,
    )
    return IdentityComponents(
        CallerIdentifier(identities, registry, ingress), forwarding, registry, identities
    )
