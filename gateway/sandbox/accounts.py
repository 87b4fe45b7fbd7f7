"""AIS reads: ``/v1/accounts``, details, balances, transactions (paged), card accounts.

Each handler checks the ``Consent-ID`` (``consents.require_valid``), then returns bytes
prepared at build or consent time. Transactions are paged newest first: ``page`` is
0-based (the convention of the bank portals this sandbox imitates) and ``pageSize``
defaults to 20; ``_links`` first/next/previous/last keep every other query parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from aiohttp import web

from . import checks
from .access import Grants
from .consents import require_valid
from .data import Account
from .state import sandbox
from .wire import SandboxError, dump, format_error, reply_bytes

BOOKING_STATUSES = frozenset({"booked", "pending", "both", "information"})
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class TransactionQuery:
    booking_status: str
    first: date
    last: date
    page: int
    page_size: int
    with_balance: bool


def _account(request: web.Request, grants: Grants, service: frozenset[str] | None) -> Account:
    """The addressed account: 404 when the consent does not list it, 401 when ``service`` is not granted."""
    resource_id = request.match_info["accountId"]
    if resource_id not in grants.detail:
        raise SandboxError(404, "RESOURCE_UNKNOWN", f"account {resource_id} is unknown for this consent")
    if service is not None and resource_id not in service:
        raise SandboxError(401, "CONSENT_INVALID", "consent does not cover this service for this account")
    return sandbox(request).bank.accounts[resource_id]


async def list_accounts(request: web.Request) -> web.Response:
    grants = require_valid(request)
    with_balance = checks.query_flag(request.query, "withBalance")
    return reply_bytes(grants.list_with_balances if with_balance else grants.list_body)


async def read_account(request: web.Request) -> web.Response:
    grants = require_valid(request)
    account = _account(request, grants, None)
    with_balance = checks.query_flag(request.query, "withBalance")
    table = grants.detail_with_balances if with_balance else grants.detail
    return reply_bytes(table[account.resource_id])


async def read_balances(request: web.Request) -> web.Response:
    grants = require_valid(request)
    return reply_bytes(_account(request, grants, grants.balances).balances_body)


def parse_query(request: web.Request, today: date) -> TransactionQuery:
    """Spec 1.3.11 ``GET /v1/accounts/{account-id}/transactions`` query parameters."""
    query = request.query
    booking_status = query.get("bookingStatus")
    if booking_status not in BOOKING_STATUSES:
        raise format_error("bookingStatus must be booked, pending, both or information")
    delta = checks.query_flag(query, "deltaList")
    if "dateFrom" in query:
        first = checks.iso_date(query["dateFrom"], "dateFrom")
    elif delta or booking_status == "information":
        first = date.min
    else:
        raise format_error("dateFrom is required unless deltaList=true")
    last = checks.iso_date(query["dateTo"], "dateTo") if "dateTo" in query else today
    if first > last:
        raise SandboxError(400, "PERIOD_INVALID", "dateFrom is after dateTo")
    return TransactionQuery(
        booking_status=booking_status,
        first=first,
        last=last,
        page=checks.query_int(query, "page", 0, 0, 999_999),
        page_size=checks.query_int(query, "pageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
        with_balance=checks.query_flag(query, "withBalance"),
    )


def _page_links(request: web.Request, page: int, last_page: int) -> dict[str, dict[str, str]]:
    """first/previous/next/last hrefs: the request's own path and query with ``page`` replaced."""
    url = request.rel_url
    kept = [p for p in url.raw_query_string.split("&") if p and not p.startswith("page=")]
    prefix = f"{url.raw_path}?{'&'.join([*kept, 'page='])}"
    links = {"first": {"href": f"{prefix}0"}}
    if page > 0:
        links["previous"] = {"href": f"{prefix}{page - 1}"}
    if page < last_page:
        links["next"] = {"href": f"{prefix}{page + 1}"}
    links["last"] = {"href": f"{prefix}{last_page}"}
    return links


def _booked_page(
    request: web.Request, account: Account, q: TransactionQuery
) -> tuple[bytes, dict[str, dict[str, str]]]:
    lo, hi = account.ledger.booked_window(q.first, q.last)
    last_page = max(0, (hi - lo - 1) // q.page_size)
    if q.page > last_page:
        raise format_error(f"page {q.page} is beyond the last page {last_page}")
    start, stop = max(lo, hi - (q.page + 1) * q.page_size), hi - q.page * q.page_size
    items = account.ledger.booked[start:stop][::-1]
    return b'"booked":[' + b",".join(items) + b"]", _page_links(request, q.page, last_page)


def _sections(request: web.Request, account: Account, q: TransactionQuery) -> list[bytes]:
    ledger = account.ledger
    links = {"account": {"href": f"/v1/accounts/{account.resource_id}"}}
    sections: list[bytes] = []
    if q.booking_status in ("booked", "both"):
        booked, page_links = _booked_page(request, account, q)
        sections.append(booked)
        links.update(page_links)
    if q.booking_status in ("pending", "both"):
        pending = ledger.pending_between(q.first, q.last) if q.page == 0 else []
        sections.append(b'"pending":[' + b",".join(pending) + b"]")
    if q.booking_status == "information":
        sections.append(b'"information":[' + b",".join(ledger.information) + b"]")
    sections.append(b'"_links":' + dump(links))
    return sections


async def read_transactions(request: web.Request) -> web.Response:
    grants = require_valid(request)
    account = _account(request, grants, grants.transactions)
    q = parse_query(request, sandbox(request).bank.today)
    body = (
        b'{"account":'
        + account.reference_json
        + b',"transactions":{'
        + b",".join(_sections(request, account, q))
    )
    if q.with_balance and account.resource_id in grants.balances:
        body += b'},"balances":' + account.balances_json + b"}"
    else:
        body += b"}}"
    return reply_bytes(body)


async def read_transaction(request: web.Request) -> web.Response:
    grants = require_valid(request)
    account = _account(request, grants, grants.transactions)
    transaction_id = request.match_info["transactionId"]
    detail = account.ledger.details.get(transaction_id)
    if detail is None:
        raise SandboxError(403, "RESOURCE_UNKNOWN", f"transaction {transaction_id} is unknown")
    return reply_bytes(detail)


async def list_card_accounts(request: web.Request) -> web.Response:
    return reply_bytes(require_valid(request).card_list_body)
