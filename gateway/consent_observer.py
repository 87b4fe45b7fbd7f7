"""Feeds the consent ledger from the Berlin Group consent answers the gateway forwards."""

from __future__ import annotations

import json
from typing import Any

from gateway.consents import ConsentLedger
from gateway.exchange import Exchange
from gateway.upstream import UpstreamResponse

# Berlin Group 1.3 scaStatus values after which the consent is valid.
SCA_DONE = frozenset({"finalised", "exempted"})


class ConsentObserver:
    def __init__(self, ledger: ConsentLedger, prefix: str = "/v1/consents") -> None:
        self.ledger = ledger
        self.prefix = prefix.rstrip("/")

    async def observe(self, ex: Exchange, response: UpstreamResponse) -> None:
        path = ex.target.path.rstrip("/")
        if ex.identity is None or response.status >= 300 or not path.startswith(self.prefix):
            return
        owner = ex.identity.tpp.organization_id
        parts = [p for p in path[len(self.prefix) :].split("/") if p]
        if not parts:
            if ex.method == "POST":
                await self._created(owner, ex.body, response.body)
            return
        consent_id = parts[0]
        if ex.method == "DELETE" and len(parts) == 1:
            await self.ledger.status_seen(owner, consent_id, "terminatedByTpp")
            return
        answer = _json(response.body)
        if isinstance(answer.get("consentStatus"), str):
            await self.ledger.status_seen(owner, consent_id, answer["consentStatus"])
        elif len(parts) >= 2 and parts[1] == "authorisations" and answer.get("scaStatus") in SCA_DONE:
            await self.ledger.status_seen(owner, consent_id, "valid")

    async def _created(self, owner: str, request_body: bytes, response_body: bytes) -> None:
        answer = _json(response_body)
        consent_id = answer.get("consentId")
        if isinstance(consent_id, str) and consent_id:
            status = answer.get("consentStatus")
            await self.ledger.created(
                owner, consent_id, _json(request_body), status if isinstance(status, str) else "received"
            )


def _json(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body) if body else {}
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}
