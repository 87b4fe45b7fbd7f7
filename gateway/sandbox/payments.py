"""PIS: ``/v1/{payment-service}/{payment-product}`` initiation, status, cancellation, authorisations.

A payment starts ``RCVD``. A successful SCA moves it to ``ACSC`` (instant SEPA, settled)
or ``ACCP`` (others, accepted for execution); a failed one to ``RJCT``. ``DELETE`` cancels
a ``RCVD`` payment at once (204); an ``ACCP`` payment needs a cancellation authorisation
(202 with ``startAuthorisation``), whose SCA moves it to ``CANC``; anything else is 405.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import checks, sca
from .data import Psu
from .state import href, sandbox
from .wire import SandboxError, format_error, read_json, reply

PRODUCTS = frozenset(
    {
        "sepa-credit-transfers",
        "instant-sepa-credit-transfers",
        "target-2-payments",
        "cross-border-credit-transfers",
    }
)
FREQUENCIES = frozenset(
    {"Daily", "Weekly", "EveryTwoWeeks", "Monthly", "EveryTwoMonths", "Quarterly", "SemiAnnual", "Annual"}
)
MAX_BULK = 100


@dataclass(slots=True)
class Payment:
    payment_id: str
    service: str
    product: str
    body: dict[str, Any]
    redirect_uri: str | None
    nok_redirect_uri: str | None
    status: str = "RCVD"

    @property
    def path(self) -> str:
        return f"/v1/{self.service}/{self.product}/{self.payment_id}"

    def complete_sca(self, ok: bool, psu: Psu | None, now: float) -> bool:
        if self.status != "RCVD":
            return False
        settled = self.service == "payments" and self.product == "instant-sepa-credit-transfers"
        self.status = ("ACSC" if settled else "ACCP") if ok else "RJCT"
        return ok


@dataclass(slots=True)
class Cancellation:
    """The SCA target of a cancellation authorisation: success moves the payment to ``CANC``."""

    payment: Payment

    @property
    def redirect_uri(self) -> str | None:
        return self.payment.redirect_uri

    @property
    def nok_redirect_uri(self) -> str | None:
        return self.payment.nok_redirect_uri

    def complete_sca(self, ok: bool, psu: Psu | None, now: float) -> bool:
        if self.payment.status != "ACCP":
            return False
        if ok:
            self.payment.status = "CANC"
        return ok


def validate_single(body: dict[str, Any], prefix: str = "") -> None:
    """The mandatory fields of a single credit transfer (spec: paymentInitiation_json)."""
    try:
        checks.amount(body, "instructedAmount")
        checks.account_reference(body, "creditorAccount")
        checks.text(body, "creditorName", max_len=70)
        if "debtorAccount" in body:
            checks.account_reference(body, "debtorAccount")
        if "remittanceInformationUnstructured" in body:
            checks.text(body, "remittanceInformationUnstructured")
        if "requestedExecutionDate" in body:
            checks.iso_date(body["requestedExecutionDate"], "requestedExecutionDate")
    except SandboxError as e:
        raise format_error(prefix + e.text) from e


def validate_periodic(body: dict[str, Any]) -> None:
    validate_single(body)
    start = checks.iso_date(body.get("startDate"), "startDate")
    frequency = body.get("frequency")
    if not isinstance(frequency, str) or frequency not in FREQUENCIES:
        raise format_error("frequency must be a frequencyCode such as Monthly")
    if "endDate" in body and checks.iso_date(body["endDate"], "endDate") < start:
        raise format_error("endDate lies before startDate")


def validate_bulk(body: dict[str, Any]) -> None:
    checks.account_reference(body, "debtorAccount")
    payments = body.get("payments")
    if not isinstance(payments, list) or not 1 <= len(payments) <= MAX_BULK:
        raise format_error(f"payments must be an array of 1 to {MAX_BULK} payments")
    for index, payment in enumerate(payments):
        validate_single(checks.obj(payment, f"payments[{index}]"), prefix=f"payments[{index}].")
    if "batchBookingPreferred" in body:
        checks.flag(body, "batchBookingPreferred")


VALIDATORS = {
    "payments": validate_single,
    "periodic-payments": validate_periodic,
    "bulk-payments": validate_bulk,
}


def _product(request: web.Request) -> tuple[str, str]:
    service, product = request.match_info["service"], request.match_info["product"]
    if product not in PRODUCTS:
        raise SandboxError(404, "PRODUCT_UNKNOWN", f"payment product {product} is not offered")
    return service, product


def _found(request: web.Request) -> Payment:
    service, product = _product(request)
    payment_id = request.match_info["paymentId"]
    payment = sandbox(request).payments.get(payment_id)
    if payment is None or (payment.service, payment.product) != (service, product):
        raise SandboxError(403, "RESOURCE_UNKNOWN", f"payment {payment_id} is unknown")
    return payment


async def initiate(request: web.Request) -> web.Response:
    state = sandbox(request)
    service, product = _product(request)
    body = await read_json(request)
    VALIDATORS[service](body)
    redirect, nok = request.headers.get("TPP-Redirect-URI"), request.headers.get("TPP-Nok-Redirect-URI")
    payment = Payment(str(uuid.uuid4()), service, product, body, redirect, nok)
    state.payments[payment.payment_id] = payment
    links = {"self": href(payment.path), "status": href(f"{payment.path}/status")}
    if request.headers.get("TPP-Explicit-Authorisation-Preferred", "").lower() == "true":
        links["startAuthorisation"] = href(f"{payment.path}/authorisations")
    else:
        auth = sca.open_authorisation(state, request, payment, f"{payment.path}/authorisations")
        links.update(sca.sca_links(request, auth))
    response = {"transactionStatus": payment.status, "paymentId": payment.payment_id, "_links": links}
    return reply(response, status=201, headers={"Location": payment.path, "ASPSP-SCA-Approach": "REDIRECT"})


async def read(request: web.Request) -> web.Response:
    payment = _found(request)
    return reply({**payment.body, "transactionStatus": payment.status})


async def status(request: web.Request) -> web.Response:
    return reply({"transactionStatus": _found(request).status})


async def cancel(request: web.Request) -> web.Response:
    payment = _found(request)
    if payment.status == "RCVD":
        payment.status = "CANC"
        return web.Response(status=204)
    if payment.status != "ACCP":
        raise SandboxError(
            405, "CANCELLATION_INVALID", f"a payment in status {payment.status} cannot be cancelled"
        )
    links = {"startAuthorisation": href(f"{payment.path}/cancellation-authorisations")}
    return reply({"transactionStatus": payment.status, "_links": links}, status=202)


def _sub(request: web.Request) -> tuple[Payment, str]:
    """The payment and the authorisation collection the path names (``{kind}`` in the route)."""
    payment = _found(request)
    return payment, f"{payment.path}/{request.match_info['kind']}"


async def start_authorisation(request: web.Request) -> web.Response:
    payment, base = _sub(request)
    cancelling = base.endswith("cancellation-authorisations")
    if payment.status != ("ACCP" if cancelling else "RCVD"):
        raise SandboxError(409, "STATUS_INVALID", f"payment is {payment.status}; nothing to authorise")
    target: sca.ScaTarget = Cancellation(payment) if cancelling else payment
    return sca.start_response(request, target, base)


async def list_authorisations(request: web.Request) -> web.Response:
    _, base = _sub(request)
    return sca.list_response(sandbox(request), base)


async def authorisation_status(request: web.Request) -> web.Response:
    _, base = _sub(request)
    return sca.status_response(sandbox(request), base, request.match_info["authorisationId"])


async def update_authorisation(request: web.Request) -> web.Response:
    _, base = _sub(request)
    return await sca.update_psu_data(request, base)
