"""The sandbox's one app-wide object: static bank data, the clock, and in-memory resources."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from .data import Bank, Psu
from .wire import SandboxError

if TYPE_CHECKING:
    from .consents import Consent
    from .funds import CofConsent
    from .payments import Payment
    from .sca import Authorisation


@dataclass(slots=True)
class Sandbox:
    """Everything a handler may read or change; resources live in dicts keyed by uuid4."""

    bank: Bank
    clock: Callable[[], float]
    consents: dict[str, Consent] = field(default_factory=dict)
    cof_consents: dict[str, CofConsent] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    authorisations: dict[str, Authorisation] = field(default_factory=dict)
    authorisation_ids: dict[str, list[str]] = field(default_factory=dict)

    def psu(self, psu_id: str | None) -> Psu:
        """The PSU named by a ``PSU-ID``, or the first PSU when none is given."""
        if psu_id is None or psu_id == "":
            return self.bank.default_psu
        found = self.bank.psus.get(psu_id)
        if found is None:
            raise SandboxError(401, "PSU_CREDENTIALS_INVALID", f"PSU-ID {psu_id!r} is not a sandbox PSU")
        return found


SANDBOX = web.AppKey("sandbox", Sandbox)


def sandbox(request: web.Request) -> Sandbox:
    return request.app[SANDBOX]


def origin(request: web.Request) -> str:
    """Scheme and host the TPP used, for absolute ``scaRedirect`` links."""
    return f"{request.scheme}://{request.host}"


def href(path: str) -> dict[str, str]:
    return {"href": path}
