"""PIIS: ``POST /v1/funds-confirmations`` and the confirmation-of-funds consent (extension 2.0).

Funds are available when the amount is in the account's currency and not above its
``interimAvailable`` balance. A ``Consent-ID`` header is optional; when sent it must name
a ``valid`` confirmation-of-funds consent for the same account.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import checks, sca
from .data import Account, Psu
from .state import Sandbox, href, sandbox
from .wire import SandboxError, dump, read_json, reply, reply_bytes

COF_BASE = "/v2/consents/confirmation-of-funds"
_TRUE, _FALSE = dump({"fundsAvailable": True}), dump({"fundsAvailable": False})


@dataclass(slots=True)
class CofConsent:
    consent_id: str
    request: dict[str, Any]
    account: Account
    redirect_uri: str | None
    nok_redirect_uri: str | None
    status: str = "received"

    @property
    def path(self) -> str:
        return f"{COF_BASE}/{self.consent_id}"

    def complete_sca(self, ok: bool, psu: Psu | None, now: float) -> bool:
        if self.status != "received":
            return False
        owner_ok = psu is None or psu.psu_id == self.account.psu_id
        self.status = "valid" if ok and owner_ok else "rejected"
        return ok and owner_ok


def _known_account(state: Sandbox, body: dict[str, Any]) -> Account:
    """The payload's ``account``: 400 RESOURCE_UNKNOWN when the IBAN is not a sandbox account."""
    ref = checks.account_reference(body, "account")
    account = state.bank.by_iban.get(ref.get("iban", ""))
    if account is None:
        raise SandboxError(400, "RESOURCE_UNKNOWN", "account is not an account of this bank")
    return account


def _check_consent(request: web.Request, account: Account) -> None:
    consent_id = request.headers.get("Consent-ID")
    if not consent_id:
        return
    consent = sandbox(request).cof_consents.get(consent_id)
    if consent is None:
        raise SandboxError(403, "CONSENT_UNKNOWN", "Consent-ID is unknown")
    if consent.status != "valid" or consent.account is not account:
        raise SandboxError(401, "CONSENT_INVALID", "consent is not valid for this account")


async def confirm(request: web.Request) -> web.Response:
    body = await read_json(request)
    account = _known_account(sandbox(request), body)
    currency, figure = checks.amount(body, "instructedAmount")
    _check_consent(request, account)
    return reply_bytes(_TRUE if currency == "EUR" and figure <= account.available else _FALSE)


def _found(request: web.Request) -> CofConsent:
    consent = sandbox(request).cof_consents.get(request.match_info["consentId"])
    if consent is None:
        raise SandboxError(403, "CONSENT_UNKNOWN", "consent is unknown")
    return consent


async def create_consent(request: web.Request) -> web.Response:
    state = sandbox(request)
    body = await read_json(request)
    account = _known_account(state, body)
    redirect, nok = request.headers.get("TPP-Redirect-URI"), request.headers.get("TPP-Nok-Redirect-URI")
    consent = CofConsent(str(uuid.uuid4()), body, account, redirect, nok)
    state.cof_consents[consent.consent_id] = consent
    auth = sca.open_authorisation(state, request, consent, f"{consent.path}/authorisations")
    links = {"self": href(consent.path), "status": href(f"{consent.path}/status")}
    response = {"consentStatus": consent.status, "consentId": consent.consent_id}
    headers = {"Location": consent.path, "ASPSP-SCA-Approach": "REDIRECT"}
    return reply(
        {**response, "_links": {**links, **sca.sca_links(request, auth)}}, status=201, headers=headers
    )


async def read_consent(request: web.Request) -> web.Response:
    consent = _found(request)
    return reply({**consent.request, "consentStatus": consent.status})


async def consent_status(request: web.Request) -> web.Response:
    return reply({"consentStatus": _found(request).status})


async def delete_consent(request: web.Request) -> web.Response:
    _found(request).status = "terminatedByTpp"
    return web.Response(status=204)


async def start_authorisation(request: web.Request) -> web.Response:
    consent = _found(request)
    if consent.status != "received":
        raise SandboxError(409, "STATUS_INVALID", f"consent is {consent.status}; nothing to authorise")
    return sca.start_response(request, consent, f"{consent.path}/authorisations")


async def list_authorisations(request: web.Request) -> web.Response:
    return sca.list_response(sandbox(request), f"{_found(request).path}/authorisations")


async def authorisation_status(request: web.Request) -> web.Response:
    base = f"{_found(request).path}/authorisations"
    return sca.status_response(sandbox(request), base, request.match_info["authorisationId"])


async def update_authorisation(request: web.Request) -> web.Response:
    return await sca.update_psu_data(request, f"{_found(request).path}/authorisations")
