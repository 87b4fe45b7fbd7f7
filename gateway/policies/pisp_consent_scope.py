"""``pisp-consent-scope``: a payment-only TPP may create just the combined-service consent.

Seed 000: "TPPs with only the PISP role can only use the global consent scope
availableAccounts: allAccounts ... The property combinedServiceIndicator has to be set to
true in the body of the request." A TPP holding PSP_AI is not restricted by this rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from gateway.config import doc
from gateway.eidas.oids import Role
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode

ALLOWED_SCOPE = {"availableAccounts": "allAccounts"}


@dataclass(frozen=True)
class PispConsentScopeConfig:
    status: int = doc("HTTP status of the ROLE_INVALID answer.", default=401, minimum=400, maximum=499)


class PispConsentScopePolicy:
    name: ClassVar[str] = "pisp-consent-scope"
    Config: ClassVar[type[PispConsentScopeConfig]] = PispConsentScopeConfig
    default_fail: ClassVar[FailMode] = "closed"

    def __init__(self, config: PispConsentScopeConfig) -> None:
        self.status = config.status

    async def enforce(self, ex: Exchange) -> None:
        if ex.method != "POST" or Role.PSP_AI in ex.roles or Role.PSP_PI not in ex.roles:
            return
        body = _json_object(ex.body)
        if body.get("access") != ALLOWED_SCOPE or body.get("combinedServiceIndicator") is not True:
            raise Reject(
                Code.ROLE_INVALID,
                "A TPP with only the PISP role may only request access availableAccounts: allAccounts "
                "with combinedServiceIndicator true.",
                self.status,
            )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise Reject(Code.FORMAT_ERROR, "The consent request body is not valid JSON.") from e
    if not isinstance(parsed, dict):
        raise Reject(Code.FORMAT_ERROR, "The consent request body must be a JSON object.")
    return parsed
