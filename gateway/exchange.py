"""One request's state as it flows through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from multidict import CIMultiDict, CIMultiDictProxy

from gateway.store.base import Once, Op, Outcome, Quota
from gateway.target import Target

if TYPE_CHECKING:
    from gateway.eidas.oids import Role
    from gateway.errors import Reject
    from gateway.identity import Identity
    from gateway.policies.base import Bound
    from gateway.registry import TppEntry
    from gateway.routes import Route


@dataclass(eq=False)
class Deferred:
    """A store operation a policy asked for; ``reject`` is raised if the store denies it.

    ``shadow`` and ``fail_open`` come from the policy's place on the route (its ``mode`` and
    ``fail`` settings), so a policy never has to handle them itself.
    """

    op: Op
    rule: str
    reject: Reject | None
    shadow: bool = False
    fail_open: bool = False
    outcome: Outcome | None = None


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

    def defer(self, op: Op, reject: Reject | None = None) -> Deferred:
        """Ask for a store operation, decided with all others of this request in one round trip."""
        bound = self.current
        shadow = bound is not None and bound.mode == "shadow"
        if shadow and isinstance(op, Quota | Once):
            op = replace(op, enforce=False)
        item = Deferred(
            op,
            rule=bound.name if bound else "",
            reject=reject,
            shadow=shadow,
            fail_open=bound is not None and bound.fail == "open",
        )
        self.deferred.append(item)
        return item
