"""The sandbox bank's fictitious customers (PSUs), their accounts, balances and cards.

Everything here is built once per "today" (``build_bank`` is cached) and never mutated:
static response bodies (balances, transaction details) are serialised at build time so a
request only picks bytes. Consents decide which of these a TPP may see (``consents.py``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .iban import belgian_iban
from .ledger import Ledger, generate, money
from .wire import dump

BANK_CODE = 735
BIC = "SNDBBEB2"
_NAMESPACE = uuid.UUID("5b1f0a1e-6d1c-4c69-9a55-2f1c1a5e0d01")

# (psu id, owner name, card number tail, ((account number, name, product, cash type, closing balance), ...))
_PSUS: tuple[tuple[str, str, str, tuple[tuple[int, str, str, str, int], ...]], ...] = (
    (
        "PSU-1001",
        "Ada Peeters",
        "4021",
        (
            (1000011, "Ada main", "Zichtrekening", "CACC", 2500),
            (1000012, "Ada savings", "Spaarrekening", "SVGS", 12000),
            (1000013, "Ada household", "Zichtrekening", "CACC", 800),
        ),
    ),
    (
        "PSU-1002",
        "Bram Janssens",
        "7733",
        (
            (2000021, "Bram current", "Zichtrekening", "CACC", 1500),
            (2000022, "Bram savings", "Spaarrekening", "SVGS", 5000),
        ),
    ),
    ("PSU-1003", "Chloe Dubois", "1180", ((3000031, "Chloe current", "Zichtrekening", "CACC", 1300),)),
)


@dataclass(frozen=True, slots=True)
class Account:
    """One EUR payment account; ``details`` is its accountDetails object without links or balances."""

    resource_id: str
    iban: str
    psu_id: str
    details: dict[str, Any]
    balances: list[dict[str, Any]]
    balances_body: bytes
    reference_json: bytes
    balances_json: bytes
    available: Decimal
    ledger: Ledger


@dataclass(frozen=True, slots=True)
class Psu:
    psu_id: str
    name: str
    accounts: tuple[Account, ...]
    card: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Bank:
    today: date
    psus: dict[str, Psu]
    accounts: dict[str, Account]
    by_iban: dict[str, Account]

    @property
    def default_psu(self) -> Psu:
        return next(iter(self.psus.values()))


def _balances(ledger: Ledger, today: date) -> list[dict[str, Any]]:
    expected = ledger.closing_booked + ledger.pending_total
    stamp = datetime.combine(today, datetime.min.time(), UTC).isoformat().replace("+00:00", "Z")
    return [
        {
            "balanceType": "closingBooked",
            "balanceAmount": {"currency": "EUR", "amount": money(ledger.closing_booked)},
            "referenceDate": (today - timedelta(days=1)).isoformat(),
        },
        {
            "balanceType": "expected",
            "balanceAmount": {"currency": "EUR", "amount": money(expected)},
            "lastChangeDateTime": stamp,
        },
        {
            "balanceType": "interimAvailable",
            "balanceAmount": {"currency": "EUR", "amount": money(expected)},
            "referenceDate": today.isoformat(),
        },
    ]


def _account(psu_id: str, owner: str, spec: tuple[int, str, str, str, int], today: date) -> Account:
    number, name, product, cash_type, closing = spec
    iban = belgian_iban(BANK_CODE, number)
    resource_id = str(uuid.uuid5(_NAMESPACE, iban))
    ledger = generate(iban, today, Decimal(closing))
    balances = _balances(ledger, today)
    details = {
        "resourceId": resource_id,
        "iban": iban,
        "currency": "EUR",
        "name": name,
        "product": product,
        "cashAccountType": cash_type,
        "status": "enabled",
        "bic": BIC,
        "usage": "PRIV",
        "ownerName": owner,
    }
    reference = {"iban": iban, "currency": "EUR"}
    body = dump({"account": reference, "balances": balances})
    available = ledger.closing_booked + ledger.pending_total
    return Account(
        resource_id, iban, psu_id, details, balances, body, dump(reference), dump(balances), available, ledger
    )


def _card(psu_id: str, owner: str, tail: str) -> dict[str, Any]:
    return {
        "resourceId": str(uuid.uuid5(_NAMESPACE, f"card-{psu_id}")),
        "maskedPan": f"525412******{tail}",
        "currency": "EUR",
        "ownerName": owner,
        "name": f"{owner} credit card",
        "product": "Sandbox Mastercard",
        "status": "enabled",
        "usage": "PRIV",
        "creditLimit": {"currency": "EUR", "amount": "2500.00"},
    }


@lru_cache(maxsize=8)
def build_bank(today: date) -> Bank:
    """All PSUs, accounts and ledgers relative to ``today``; deterministic and cached."""
    psus: dict[str, Psu] = {}
    for psu_id, owner, tail, specs in _PSUS:
        accounts = tuple(_account(psu_id, owner, spec, today) for spec in specs)
        psus[psu_id] = Psu(psu_id, owner, accounts, _card(psu_id, owner, tail))
    accounts_by_id = {a.resource_id: a for p in psus.values() for a in p.accounts}
    by_iban = {a.iban: a for a in accounts_by_id.values()}
    return Bank(today, psus, accounts_by_id, by_iban)


def utc_date(epoch: float) -> date:
    return datetime.fromtimestamp(epoch, UTC).date()


def utc_iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
