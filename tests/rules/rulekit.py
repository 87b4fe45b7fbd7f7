"""Run policies on a hand-built Exchange exactly as the pipeline does, with an injected clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from gateway.config import Where, build
from gateway.consents import ConsentFacts
from gateway.decisions import StoreDecisions
from gateway.eidas.identity import identity_from_certificate
from gateway.eidas.issue import DevCA
from gateway.errors import Reject
from gateway.exchange import Exchange
from gateway.identity import Identity
from gateway.policies import REGISTRY, Bound
from gateway.store.base import Store
from gateway.target import parse_target

T0 = int(dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC).timestamp() * 1000)
MINUTE = 60_000
_CA = DevCA.create("Rules QTSP")
_IDENTITIES: dict[str, Identity] = {}


def identity(org_id: str = "PSDBE-NBB-0123456789") -> Identity:
    if org_id not in _IDENTITIES:
        cert = _CA.issue_qwac(organization_id=org_id).cert
        _IDENTITIES[org_id] = Identity(
            b"der-" + org_id.encode(), "00" * 32, identity_from_certificate(cert), "tls"
        )
    return _IDENTITIES[org_id]


def bound(name: str, mode: str = "enforce", fail: str | None = None, **settings: Any) -> Bound:
    policy_type = REGISTRY[name]
    config = build(policy_type.Config, {k.replace("_", "-"): v for k, v in settings.items()}, Where("test"))
    return Bound(policy_type(config), mode, fail or policy_type.default_fail)  # type: ignore[arg-type]


@dataclass
class Rules:
    store: Store
    policies: list[Bound]
    decisions: StoreDecisions = field(init=False)

    def __post_init__(self) -> None:
        self.decisions = StoreDecisions(self.store)

    async def run(
        self,
        path: str,
        *,
        now_ms: int,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        consent: ConsentFacts | None = None,
        tpp: str = "PSDBE-NBB-0123456789",
        claims: dict[str, Any] | None = None,
    ) -> Exchange:
        """The exchange after its policies and store decision; raises Reject like the pipeline."""
        ex = Exchange(
            method=method,
            target=parse_target(path),
            headers=CIMultiDictProxy(CIMultiDict(headers or {})),
            peer_ip="127.0.0.1",
            started=0.0,
            now_ms=now_ms,
            body=body,
            identity=identity(tpp),
            consent_id=(headers or {}).get("Consent-ID", ""),
            consent=consent,
            token_claims=claims,
        )
        for item in self.policies:
            ex.current = item
            try:
                await item.policy.enforce(ex)
            except Reject as reject:
                if item.mode == "enforce":
                    raise
                ex.shadow_rejections.append(reject)
        ex.current = None
        await self.decisions.decide(ex)
        return ex

    async def status(self, path: str, **kw: Any) -> int | str:
        """200, or the Berlin Group code of the rejection."""
        try:
            await self.run(path, **kw)
        except Reject as reject:
            return reject.code.value
        return 200
