"""The one abstraction every rule implements, and how a YAML entry becomes one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

if TYPE_CHECKING:
    from gateway.exchange import Exchange

Mode = Literal["enforce", "shadow"]
FailMode = Literal["open", "closed"]


class Policy(Protocol):
    """A rule on a route: return to pass, raise ``Reject`` to stop the request.

    A policy may also add headers for the core (``ex.upstream_headers``) or the TPP
    (``ex.response_headers``), and ask for store operations with ``ex.defer(...)``, which the
    pipeline decides for all policies of the request in one store round trip.
    """

    name: ClassVar[str]

    async def enforce(self, ex: Exchange) -> None: ...


class PolicyType(Protocol):
    """What the registry holds: a class built from its typed, validated YAML config."""

    @property
    def name(self) -> str: ...

    @property
    def Config(self) -> type[Any]: ...

    @property
    def default_fail(self) -> FailMode: ...

    def __call__(self, config: Any) -> Policy: ...


@dataclass(frozen=True, slots=True)
class Bound:
    """A policy as placed on a route, with the settings every rule shares.

    ``mode``: ``shadow`` rules are evaluated, logged and counted but never reject.
    ``fail``: what the rule's store operations do when the store is unreachable.
    """

    policy: Policy
    mode: Mode
    fail: FailMode

    @property
    def name(self) -> str:
        return self.policy.name
