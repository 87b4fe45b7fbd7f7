"""The first step of every request: who is calling, and what does the bank know of them.

The certificate comes from the TLS handshake, or in ingress mode from a header that only
configured proxies may set; the identity service validates it (cached), then the TPP
registry adds the bank's own view: status, keys, and the roles the NCA register grants.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.eidas.oids import Role
from gateway.errors import Code, Reject
from gateway.http_request import IncomingRequest
from gateway.identity import Identity, IdentityService, peer_certificate
from gateway.ingress import Format, TrustedProxies, certificate_from_header
from gateway.registry import RegistryHolder, TppEntry


@dataclass(frozen=True, slots=True)
class Caller:
    identity: Identity
    registration: TppEntry | None
    roles: frozenset[Role]


@dataclass(frozen=True, slots=True)
class IngressSource:
    header: str
    format: Format
    proxies: TrustedProxies


def effective_roles(identity: Identity, registration: TppEntry | None) -> frozenset[Role]:
    """The QWAC's roles, narrowed to the NCA register's when the registry lists them."""
    granted = registration.granted_roles if registration is not None else None
    return identity.tpp.roles if granted is None else identity.tpp.roles & granted


class CallerIdentifier:
    """``sandbox_tpp``: in sandbox mode a caller without a certificate is this synthetic TPP."""

    def __init__(
        self,
        identities: IdentityService,
        registry: RegistryHolder,
        ingress: IngressSource | None = None,
        sandbox_tpp: Identity | None = None,
    ) -> None:
        self.identities = identities
        self.registry = registry
        self.ingress = ingress
        self.sandbox_tpp = sandbox_tpp

    async def identify(self, request: IncomingRequest) -> Caller:
        if self.ingress is None:
            if self.sandbox_tpp is not None and not request.peer_certificate:
                return Caller(self.sandbox_tpp, self.registry.current.lookup(""), self.sandbox_tpp.tpp.roles)
            identity = await self.identities.identify(peer_certificate(request.peer_certificate), "tls")
        else:
            identity = await self._from_ingress(request, self.ingress)
        registration = self.registry.current.lookup(identity.tpp.organization_id)
        return Caller(identity, registration, effective_roles(identity, registration))

    async def _from_ingress(self, request: IncomingRequest, ingress: IngressSource) -> Identity:
        values = request.headers.getall(ingress.header, [])
        if request.peer_ip not in ingress.proxies or not values:
            raise Reject(
                Code.CERTIFICATE_MISSING, "A client certificate (QWAC) is required.", rule="identity"
            )
        if len(values) != 1:
            raise Reject(
                Code.CERTIFICATE_INVALID, "More than one forwarded client certificate.", rule="identity"
            )
        forwarded = certificate_from_header(values[0], ingress.format)
        return await self.identities.identify(forwarded.leaf, "ingress", forwarded.chain)
