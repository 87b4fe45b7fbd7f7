"""``tpp-role``: the TPP's PSD2 role must allow the service of the route.

ETSI TS 119 495 roles: PSP_AS (account servicing), PSP_PI (payment initiation), PSP_AI
(account information), PSP_IC (card-based payment instrument issuing). The effective roles
are the QWAC's, intersected with the NCA register's when the TPP registry lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gateway.config import doc
from gateway.eidas.oids import Role
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode


@dataclass(frozen=True)
class TppRoleConfig:
    any_of: list[str] = doc("The request passes if the TPP holds any of these roles.")
    status: int = doc("HTTP status of ROLE_INVALID.", default=401, minimum=400, maximum=499)

    def __post_init__(self) -> None:
        if not self.any_of:
            raise ValueError("any-of must name at least one role")
        for role in self.any_of:
            Role.parse(role)


class TppRolePolicy:
    name: ClassVar[str] = "tpp-role"
    Config: ClassVar[type[TppRoleConfig]] = TppRoleConfig
    default_fail: ClassVar[FailMode] = "closed"

    def __init__(self, config: TppRoleConfig) -> None:
        self.allowed = frozenset(Role.parse(r) for r in config.any_of)
        self.status = config.status
        self.needed = " or ".join(sorted(r.value for r in self.allowed))

    async def enforce(self, ex: Exchange) -> None:
        if ex.roles.isdisjoint(self.allowed):
            raise Reject(
                Code.ROLE_INVALID, f"This service requires the PSD2 role {self.needed}.", self.status
            )
