"""One request's state as it flows through the pipeline."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict, CIMultiDictProxy

from gateway.store.base import Once, Op, Outcome, Quota
from gateway.target import Target

if TYPE_CHECKING:
    from gateway.consents import ConsentFacts
    from gateway.eidas.oids import Role
    from gateway.errors import Reject
    from gateway.identity import Identity
    from gateway.policies.base import Bound
    from gateway.registry import TppEntry
    from gateway.routes import Route
    from gateway.services import Services


Judge = Callable[[Outcome], None]


@dataclass(eq=False, slots=True)
class Deferred:
    """A store operation a policy asked for, and ``then``: called with its outcome, may raise Reject.

    ``shadow`` and ``fail_open`` come from the policy's place on the route (its ``mode`` and
    ``fail`` settings), so a policy never has to handle them itself.
    """

    op: Op
    rule: str
    then: Judge | None
    shadow: bool = False
    fail_open: bool = False


@dataclass(eq=False, slots=True)
class Exchange:
    """Everything the pipeline knows about one request, filled in step by step.

    ``headers`` are the TPP's request headers (read-only); what goes to the core is
    ``upstream_headers`` (a copy policies and translation may edit), what goes back to the
    TPP in addition to the core's headers is ``response_headers``.
    """

    method: str
    target: Target
    headers: CIMultiDictProxy[str]
    peer_ip: str
    started: float
    now_ms: int
    body: bytes = b""
    identity: Identity | None = None
    registration: TppEntry | None = None
    roles: frozenset[Role] = frozenset()
    token_claims: Mapping[str, Any] | None = None
    consent_id: str = ""
    consent: ConsentFacts | None = None
    services: Services | None = None
    store_unavailable: bool = False  # the store already failed this request's budget once
    route: Route | None = None
    request_id: str = ""
    upstream_headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    response_headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    dropped_headers: set[str] = field(default_factory=set)
    deferred: list[Deferred] = field(default_factory=list)
    shadow_rejections: list[Reject] = field(default_factory=list)
    current: Bound | None = None

    def drop_upstream_header(self, name: str) -> None:
        """Do not pass this TPP header on to the core."""
        self.dropped_headers.add(name.lower())
        self.upstream_headers.popall(name, None)

    @property
    def tpp_tag(self) -> str:
        """The store hash tag of this request's TPP: its keys share one Redis Cluster slot."""
        return self.identity.tpp.organization_id if self.identity is not None else "anonymous"

    def sca_time_ms(self) -> int | None:
        """When the PSU last authenticated for this consent: the ledger's record or the token's auth_time."""
        times = [self.consent.sca_time_ms] if self.consent is not None and self.consent.sca_time_ms else []
        auth_time = self.token_claims.get("auth_time") if self.token_claims else None
        if isinstance(auth_time, int | float) and not isinstance(auth_time, bool):
            times.append(int(auth_time * 1000))
        return max(times) if times else None

    def defer(self, op: Op, then: Judge | None = None, *, fail_open: bool | None = None) -> Deferred:
        """Ask for a store operation, decided with all others of this request in one round trip.

        ``then`` receives the outcome and raises ``Reject`` to stop the request (e.g. when the
        quota is exhausted); ``fail_open`` overrides the rule's ``fail`` setting for this one.
        """
        bound = self.current
        shadow = bound is not None and bound.mode == "shadow"
        if shadow and isinstance(op, Quota | Once):
            op = replace(op, enforce=False)
        item = Deferred(
            op,
            rule=bound.name if bound else "",
            then=then,
            shadow=shadow,
            fail_open=(bound is not None and bound.fail == "open") if fail_open is None else fail_open,
        )
        self.deferred.append(item)
        return item
