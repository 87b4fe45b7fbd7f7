"""The sandbox application: the one route table, the app factory, and a loopback server.

Every route is wrapped once by ``wire.guard`` (errors to BG bodies, ``X-Request-ID``
echo); there is no middleware. The last route catches everything else and answers
404 RESOURCE_UNKNOWN or 405 SERVICE_INVALID.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from . import accounts, consents, funds, payments, sca
from .data import build_bank, utc_date
from .state import SANDBOX, Sandbox
from .wire import MAX_BODY, Handler, dump, fallback, guard, reply_bytes

_CONSENT = "/v1/consents/{consentId}"
_ACCOUNT = "/v1/accounts/{accountId}"
_PAYMENT = "/v1/{service:payments|bulk-payments|periodic-payments}/{product}"
_PAYMENT_AUTH = _PAYMENT + "/{paymentId}/{kind:authorisations|cancellation-authorisations}"
_COF = funds.COF_BASE + "/{consentId}"

ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/v1/consents", consents.create),
    ("GET", _CONSENT, consents.read),
    ("DELETE", _CONSENT, consents.delete),
    ("GET", _CONSENT + "/status", consents.status),
    ("POST", _CONSENT + "/authorisations", consents.start_authorisation),
    ("GET", _CONSENT + "/authorisations", consents.list_authorisations),
    ("GET", _CONSENT + "/authorisations/{authorisationId}", consents.authorisation_status),
    ("PUT", _CONSENT + "/authorisations/{authorisationId}", consents.update_authorisation),
    ("GET", "/v1/accounts", accounts.list_accounts),
    ("GET", _ACCOUNT, accounts.read_account),
    ("GET", _ACCOUNT + "/balances", accounts.read_balances),
    ("GET", _ACCOUNT + "/transactions", accounts.read_transactions),
    ("GET", _ACCOUNT + "/transactions/{transactionId}", accounts.read_transaction),
    ("GET", "/v1/card-accounts", accounts.list_card_accounts),
    ("POST", _PAYMENT, payments.initiate),
    ("GET", _PAYMENT + "/{paymentId}", payments.read),
    ("DELETE", _PAYMENT + "/{paymentId}", payments.cancel),
    ("GET", _PAYMENT + "/{paymentId}/status", payments.status),
    ("POST", _PAYMENT_AUTH, payments.start_authorisation),
    ("GET", _PAYMENT_AUTH, payments.list_authorisations),
    ("GET", _PAYMENT_AUTH + "/{authorisationId}", payments.authorisation_status),
    ("PUT", _PAYMENT_AUTH + "/{authorisationId}", payments.update_authorisation),
    ("POST", "/v1/funds-confirmations", funds.confirm),
    ("POST", funds.COF_BASE, funds.create_consent),
    ("GET", _COF, funds.read_consent),
    ("DELETE", _COF, funds.delete_consent),
    ("GET", _COF + "/status", funds.consent_status),
    ("POST", _COF + "/authorisations", funds.start_authorisation),
    ("GET", _COF + "/authorisations", funds.list_authorisations),
    ("GET", _COF + "/authorisations/{authorisationId}", funds.authorisation_status),
    ("PUT", _COF + "/authorisations/{authorisationId}", funds.update_authorisation),
    ("GET", "/sandbox/sca/{authorisationId}", sca.sca_page),
)


_PSUS_BODY = web.AppKey("sandbox_psus_body", bytes)


async def list_psus(request: web.Request) -> web.Response:
    """``GET /sandbox/psus``: the fictitious PSUs and their IBANs, for demos and test setup."""
    return reply_bytes(request.app[_PSUS_BODY])


def _psus_body(state: Sandbox) -> bytes:
    psus = [
        {
            "psuId": psu.psu_id,
            "name": psu.name,
            "accounts": [{"iban": a.iban, "resourceId": a.resource_id} for a in psu.accounts],
        }
        for psu in state.bank.psus.values()
    ]
    return dump({"psus": psus})


def create_sandbox_app(clock: Callable[[], float] = time.time) -> web.Application:
    """The sandbox bank core; ``clock`` returns epoch seconds (inject a fake one in tests)."""
    app = web.Application(client_max_size=MAX_BODY)
    state = Sandbox(bank=build_bank(utc_date(clock())), clock=clock)
    app[SANDBOX] = state
    app[_PSUS_BODY] = _psus_body(state)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, guard(handler))
    app.router.add_route("GET", "/sandbox/psus", guard(list_psus))
    app.router.add_route("*", "/{tail:.*}", guard(fallback))
    return app


@dataclass(slots=True)
class SandboxServer:
    """A running sandbox on loopback; ``close()`` stops it."""

    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def state(self) -> Sandbox:
        """The live sandbox state (bank data, clock, resources), for tests and tooling."""
        return self.runner.app[SANDBOX]

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_sandbox(
    host: str = "127.0.0.1", port: int = 0, clock: Callable[[], float] = time.time
) -> SandboxServer:
    """Serve the sandbox on ``host:port`` (0 = an ephemeral port, read back from the socket)."""
    runner = web.AppRunner(create_sandbox_app(clock), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]
    return SandboxServer(runner, host, int(bound))


def run_sandbox(host: str, port: int) -> None:
    """Blocking: serve the sandbox until interrupted (``psd2-gateway sandbox-core``)."""
    web.run_app(create_sandbox_app(), host=host, port=port, access_log=None)
