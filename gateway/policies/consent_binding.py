"""``consent-binding``: a consent is used only by the TPP that created it.

Berlin Group 14.11: CONSENT_UNKNOWN "The Consent-ID cannot be matched by the ASPSP relative to
the TPP". The consent ledger records which TPP created each consent; with ``require-known``
a consent the gateway never saw (created before it was deployed, or through another
channel) is refused as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode


@dataclass(frozen=True)
class ConsentBindingConfig:
    require_known: bool = doc("Refuse consents the gateway has not seen created.", default=False)
    status: int = doc("HTTP status of CONSENT_UNKNOWN.", default=403, minimum=400, maximum=499)


class ConsentBindingPolicy:
    name: ClassVar[str] = "consent-binding"
    Config: ClassVar[type[ConsentBindingConfig]] = ConsentBindingConfig
    default_fail: ClassVar[FailMode] = "closed"
    needs_consent: ClassVar[bool] = True

    def __init__(self, config: ConsentBindingConfig) -> None:
        self.require_known = config.require_known
        self.status = config.status

    async def enforce(self, ex: Exchange) -> None:
        if not ex.consent_id:
            return
        facts = ex.consent
        if (facts is None and self.require_known) or (facts is not None and facts.owner != ex.tpp_tag):
            raise Reject(Code.CONSENT_UNKNOWN, "The Consent-ID is not known for this TPP.", self.status)
