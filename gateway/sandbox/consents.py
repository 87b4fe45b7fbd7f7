"""AIS consents: ``/v1/consents`` create, read, status, delete and authorisations.

A consent starts ``received``; its SCA (see ``sca.py``) makes it ``valid`` or
``rejected``; ``DELETE`` makes it ``terminatedByTpp``; the injected clock makes it
``expired`` after ``validUntil`` (end of that UTC day) or, for a one-off consent
(``recurringIndicator`` false, ``frequencyPerDay`` 1), 20 minutes after the SCA.
The SCA time is reported as ``lastActionDate`` and in ``X-Sandbox-SCA-Time``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from aiohttp import web

from . import access, checks, sca
from .data import Psu, utc_date, utc_iso
from .state import Sandbox, href, sandbox
from .wire import SandboxError, read_json, reply

ONE_OFF_SECONDS = 20 * 60
SCA_TIME_HEADER = "X-Sandbox-SCA-Time"
LIVE = frozenset({"received", "valid"})


@dataclass(slots=True)
class Consent:
    consent_id: str
    request: dict[str, Any]
    grants: access.Grants
    created: float
    expires_at: float
    redirect_uri: str | None = None
    nok_redirect_uri: str | None = None
    status: str = "received"
    sca_time: float | None = None

    @property
    def one_off(self) -> bool:
        return not self.request["recurringIndicator"] and self.request["frequencyPerDay"] == 1

    def status_at(self, now: float) -> str:
        return "expired" if self.status in LIVE and now > self.expires_at else self.status

    def complete_sca(self, ok: bool, psu: Psu | None, now: float) -> bool:
        if self.status_at(now) != "received":
            return False
        if not ok:
            self.status = "rejected"
            return False
        if psu is not None and psu is not self.grants.psu:
            try:
                self.grants = access.resolve(self.request["access"], psu)
            except SandboxError:
                self.status = "rejected"
                return False
        self.status, self.sca_time = "valid", now
        if self.one_off:
            self.expires_at = min(self.expires_at, now + ONE_OFF_SECONDS)
        return True


def validate(body: dict[str, Any], today: date) -> dict[str, Any]:
    """The consents request body (spec: consents schema), normalised; 400 naming the bad field."""
    valid_until = checks.iso_date(body.get("validUntil"), "validUntil")
    if valid_until < today:
        raise SandboxError(400, "PERIOD_INVALID", "validUntil lies in the past")
    return {
        "access": checks.obj(body.get("access"), "access"),
        "recurringIndicator": checks.flag(body, "recurringIndicator"),
        "validUntil": valid_until.isoformat(),
        "frequencyPerDay": checks.positive_int(body, "frequencyPerDay"),
        "combinedServiceIndicator": checks.flag(body, "combinedServiceIndicator", default=False),
    }


def _end_of(day: str) -> float:
    return datetime.combine(date.fromisoformat(day), time.max, UTC).timestamp()


def _choose_psu(state: Sandbox, request: web.Request, requested: dict[str, Any]) -> Psu:
    if "PSU-ID" in request.headers:
        return state.psu(request.headers["PSU-ID"])
    for iban in access.dedicated_ibans(requested["access"]):
        if iban in state.bank.by_iban:
            return state.psu(state.bank.by_iban[iban].psu_id)
    return state.bank.default_psu


def _found(request: web.Request) -> Consent:
    consent_id = request.match_info["consentId"]
    consent = sandbox(request).consents.get(consent_id)
    if consent is None:
        raise SandboxError(403, "CONSENT_UNKNOWN", f"consent {consent_id} is unknown")
    return consent


async def create(request: web.Request) -> web.Response:
    state = sandbox(request)
    now = state.clock()
    requested = validate(await read_json(request), utc_date(now))
    grants = access.resolve(requested["access"], _choose_psu(state, request, requested))
    consent_id = str(uuid.uuid4())
    consent = Consent(consent_id, requested, grants, now, _end_of(requested["validUntil"]))
    consent.redirect_uri = request.headers.get("TPP-Redirect-URI")
    consent.nok_redirect_uri = request.headers.get("TPP-Nok-Redirect-URI")
    state.consents[consent_id] = consent
    base = f"/v1/consents/{consent_id}"
    links = {"self": href(base), "status": href(f"{base}/status")}
    if request.headers.get("TPP-Explicit-Authorisation-Preferred", "").lower() == "true":
        links["startAuthorisation"] = href(f"{base}/authorisations")
    else:
        auth = sca.open_authorisation(state, request, consent, f"{base}/authorisations")
        links.update(sca.sca_links(request, auth))
    body = {"consentStatus": consent.status, "consentId": consent_id, "_links": links}
    return reply(body, status=201, headers={"Location": base, "ASPSP-SCA-Approach": "REDIRECT"})


def _sca_header(consent: Consent) -> dict[str, str]:
    return {} if consent.sca_time is None else {SCA_TIME_HEADER: utc_iso(consent.sca_time)}


async def read(request: web.Request) -> web.Response:
    consent = _found(request)
    status = consent.status_at(sandbox(request).clock())
    last_action = utc_date(consent.sca_time or consent.created).isoformat()
    body = {**consent.request, "lastActionDate": last_action, "consentStatus": status}
    if status == "valid":
        body["_links"] = {"account": href("/v1/accounts")}
    return reply(body, headers=_sca_header(consent))


async def status(request: web.Request) -> web.Response:
    consent = _found(request)
    body = {"consentStatus": consent.status_at(sandbox(request).clock())}
    return reply(body, headers=_sca_header(consent))


async def delete(request: web.Request) -> web.Response:
    _found(request).status = "terminatedByTpp"
    return web.Response(status=204)


async def start_authorisation(request: web.Request) -> web.Response:
    consent = _found(request)
    current = consent.status_at(sandbox(request).clock())
    if current != "received":
        raise SandboxError(409, "STATUS_INVALID", f"consent is {current}; nothing to authorise")
    return sca.start_response(request, consent, f"/v1/consents/{consent.consent_id}/authorisations")


async def list_authorisations(request: web.Request) -> web.Response:
    consent = _found(request)
    return sca.list_response(sandbox(request), f"/v1/consents/{consent.consent_id}/authorisations")


async def authorisation_status(request: web.Request) -> web.Response:
    consent = _found(request)
    base = f"/v1/consents/{consent.consent_id}/authorisations"
    return sca.status_response(sandbox(request), base, request.match_info["authorisationId"])


async def update_authorisation(request: web.Request) -> web.Response:
    consent = _found(request)
    return await sca.update_psu_data(request, f"/v1/consents/{consent.consent_id}/authorisations")


def require_valid(request: web.Request) -> access.Grants:
    """The grants of the request's ``Consent-ID``; 400/403/401 as spec section 14.11 assigns."""
    consent_id = request.headers.get("Consent-ID")
    if not consent_id:
        raise SandboxError(400, "FORMAT_ERROR", "Consent-ID header is missing")
    state = sandbox(request)
    consent = state.consents.get(consent_id)
    if consent is None:
        raise SandboxError(403, "CONSENT_UNKNOWN", "Consent-ID is unknown")
    current = consent.status_at(state.clock())
    if current == "expired":
        raise SandboxError(401, "CONSENT_EXPIRED", "consent has expired")
    if current != "valid":
        raise SandboxError(401, "CONSENT_INVALID", f"consent is {current}, not valid")
    return consent.grants
