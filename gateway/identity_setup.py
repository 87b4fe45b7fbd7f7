"""Build the identity side of the gateway from settings: validator, cache, registry, forwarding."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.caller import CallerIdentifier, IngressSource
from gateway.eidas.oids import Role
from gateway.eidas.validate import CertificateValidator, load_certificates
from gateway.errors import GatewayError, Reject
from gateway.expiry import days_left
from gateway.forwarding import IdentityForwarding
from gateway.identity import Identity, IdentityService, Revocation, synthetic_identity
from gateway.identity_forward import IdentityTokens
from gateway.ingress import TrustedProxies
from gateway.metrics import Metrics
from gateway.registry import RegistryHolder
from gateway.settings import Settings


def _observer(
    metrics: Metrics, registry: RegistryHolder, clock: Callable[[], float]
) -> Callable[[Identity | Reject], None]:
    """Metrics of each fresh verdict; expiry is labelled only for registered TPPs (bounded labels)."""

    def observe(verdict: Identity | Reject) -> None:
        if isinstance(verdict, Reject):
            metrics.certificate_verdicts.labels(verdict.code.value).inc()
            return
        metrics.certificate_verdicts.labels("valid").inc()
        for leniency in verdict.tpp.leniencies:
            metrics.certificate_leniencies.labels(leniency).inc()
        org_id = verdict.tpp.organization_id
        if org_id in registry.current.entries:
            metrics.certificate_expiry_days.labels(org_id).set(round(days_left(verdict, clock()), 2))

    return observe


@dataclass
class IdentityComponents:
    caller: CallerIdentifier
    forwarding: IdentityForwarding
    registry: RegistryHolder
    identities: IdentityService
    seals: IdentityService


def build_identity(
    settings: Settings,
    revocation: Revocation | None,
    metrics: Metrics,
    clock: Callable[[], float] = time.time,
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
    registry = RegistryHolder(config.registry)
    identities = IdentityService(
        validator,
        revocation,
        cache_ttl_s=config.cache_ttl_s,
        clock=clock,
        on_verdict=_observer(metrics, registry, clock),
    )
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
    seals = IdentityService(
        validator, revocation, qc_type="eseal", cache_ttl_s=config.cache_ttl_s, clock=clock
    )
    sandbox = settings.sandbox
    sandbox_tpp = None
    if sandbox.enabled and not sandbox.require_certificate:
        sandbox_tpp = synthetic_identity(
            sandbox.tpp, "Sandbox TPP (no certificate)", frozenset(Role), "XX-SANDBOX"
        )
    caller = CallerIdentifier(identities, registry, ingress, sandbox_tpp)
    return IdentityComponents(caller, forwarding, registry, identities, seals)
