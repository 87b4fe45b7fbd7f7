"""``tpp-status``: the TPP must be registered with the bank and not blocked.

Berlin Group 14.11: CERTIFICATE_BLOCKED (401) "Signature/corporate seal certificate has been
blocked by the ASPSP or the related NCA". A TPP the registry does not know is refused
unless the registry admits unknown TPPs as ``pending``, which is refused too (with its own
text) until an operator activates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode


@dataclass(frozen=True)
class TppStatusConfig:
    status: int = doc(
        "HTTP status for a blocked, pending or unknown TPP.", default=401, minimum=400, maximum=499
    )


class TppStatusPolicy:
    name: ClassVar[str] = "tpp-status"
    Config: ClassVar[type[TppStatusConfig]] = TppStatusConfig
    default_fail: ClassVar[FailMode] = "closed"

    def __init__(self, config: TppStatusConfig) -> None:
        self.status = config.status

    async def enforce(self, ex: Exchange) -> None:
        entry = ex.registration
        if entry is None:
            raise Reject(Code.CERTIFICATE_BLOCKED, "The TPP is not registered with this bank.", self.status)
        if entry.status == "blocked":
            raise Reject(Code.CERTIFICATE_BLOCKED, "The TPP has been blocked by the bank.", self.status)
        if entry.status == "pending":
            raise Reject(Code.CERTIFICATE_BLOCKED, "The TPP's registration is pending approval.", self.status)
