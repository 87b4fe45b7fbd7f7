"""Simulated Strong Customer Authentication: authorisation sub-resources and the redirect page.

Every consent, payment and payment cancellation owns authorisations. The TPP sends the
PSU to ``scaRedirect``, which here is ``GET /sandbox/sca/{authorisationId}?psu=PSU-1001&result=ok``
(``result=fail`` simulates a refused SCA). The embedded equivalent is
``PUT .../authorisations/{authorisationId}`` with ``{"psuData": {"password": "..."}}``.
Either way the owning resource's ``complete_sca`` decides the new status.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from . import checks
from .data import Psu
from .state import Sandbox, href, origin, sandbox
from .wire import SandboxError, format_error, read_json, reply

OPEN = frozenset({"received", "psuIdentified", "started"})


class ScaTarget(Protocol):
    """A resource an SCA can authorise: consents, payments, cancellations."""

    @property
    def redirect_uri(self) -> str | None: ...

    @property
    def nok_redirect_uri(self) -> str | None: ...

    def complete_sca(self, ok: bool, psu: Psu | None, now: float) -> bool:
        """Apply an SCA outcome; return False when the resource refuses it (then SCA failed)."""
        ...


@dataclass(slots=True)
class Authorisation:
    authorisation_id: str
    target: ScaTarget
    path: str
    sca_status: str = "received"


def open_authorisation(state: Sandbox, request: web.Request, target: ScaTarget, base: str) -> Authorisation:
    """Create an authorisation under ``base`` (e.g. ``/v1/consents/{id}/authorisations``)."""
    auth_id = str(uuid.uuid4())
    auth = Authorisation(auth_id, target, f"{base}/{auth_id}")
    state.authorisations[auth_id] = auth
    state.authorisation_ids.setdefault(base, []).append(auth_id)
    return auth


def sca_links(request: web.Request, auth: Authorisation) -> dict[str, dict[str, str]]:
    page = f"{origin(request)}/sandbox/sca/{auth.authorisation_id}"
    return {"scaRedirect": href(page), "scaStatus": href(auth.path)}


def _owned(state: Sandbox, base: str, auth_id: str) -> Authorisation:
    auth = state.authorisations.get(auth_id)
    if auth is None or auth.path != f"{base}/{auth_id}":
        raise SandboxError(403, "RESOURCE_UNKNOWN", f"authorisation {auth_id} is unknown for this resource")
    return auth


def start_response(request: web.Request, target: ScaTarget, base: str) -> web.Response:
    """201 startScaprocessResponse for ``POST .../authorisations``."""
    auth = open_authorisation(sandbox(request), request, target, base)
    body = {"scaStatus": auth.sca_status, "authorisationId": auth.authorisation_id}
    return reply({**body, "_links": sca_links(request, auth)}, status=201)


def list_response(state: Sandbox, base: str) -> web.Response:
    return reply({"authorisationIds": state.authorisation_ids.get(base, [])})


def status_response(state: Sandbox, base: str, auth_id: str) -> web.Response:
    return reply({"scaStatus": _owned(state, base, auth_id).sca_status})


def finish(state: Sandbox, auth: Authorisation, ok: bool, psu: Psu | None) -> str:
    """Close an open authorisation with the PSU's verdict; 409 STATUS_INVALID when already closed."""
    if auth.sca_status not in OPEN:
        raise SandboxError(409, "STATUS_INVALID", f"authorisation is already {auth.sca_status}")
    accepted = auth.target.complete_sca(ok, psu, state.clock())
    auth.sca_status = "finalised" if ok and accepted else "failed"
    return auth.sca_status


async def update_psu_data(request: web.Request, base: str) -> web.Response:
    """Embedded approach: ``PUT`` with ``psuData.password`` finalises the SCA in one step."""
    state = sandbox(request)
    auth = _owned(state, base, request.match_info["authorisationId"])
    body = await read_json(request)
    checks.text(checks.obj(body.get("psuData"), "psuData"), "password", prefix="psuData.")
    psu = state.psu(request.headers.get("PSU-ID")) if "PSU-ID" in request.headers else None
    status = finish(state, auth, True, psu)
    return reply({"scaStatus": status, "_links": {"scaStatus": href(auth.path)}})


def _page_body(auth: Authorisation, status: str) -> dict[str, Any]:
    return {"authorisationId": auth.authorisation_id, "scaStatus": status, "scaStatusHref": auth.path}


async def sca_page(request: web.Request) -> web.Response:
    """The sandbox's stand-in for the bank's login page: ``?psu=PSU-1001&result=ok|fail``."""
    state = sandbox(request)
    auth = state.authorisations.get(request.match_info["authorisationId"])
    if auth is None:
        raise SandboxError(404, "RESOURCE_UNKNOWN", "unknown authorisation")
    result = request.query.get("result", "ok")
    if result not in ("ok", "fail"):
        raise format_error("query parameter result must be ok or fail")
    psu = state.psu(request.query["psu"]) if "psu" in request.query else None
    status = finish(state, auth, result == "ok", psu)
    target = auth.target.redirect_uri if status == "finalised" else auth.target.nok_redirect_uri
    target = target or auth.target.redirect_uri
    if target:
        return web.Response(status=302, headers={"Location": target})
    return reply(_page_body(auth, status))
