"""Deterministic transaction history for one account, indexed for fast date-window queries.

A ledger is generated once per account from ``random.Random(iban)``: the same IBAN and
the same "today" always give the same transactions. Each transaction is serialised to
JSON bytes at generation, and booked entries are kept sorted by booking day so that a
``dateFrom``/``dateTo`` window is two ``bisect`` calls and a list slice.
"""

from __future__ import annotations

import random
import uuid
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from .iban import belgian_iban
from .wire import dump

HISTORY_DAYS = 400
BOOKED_PER_ACCOUNT = 400
PENDING_PER_ACCOUNT = 3
CENT = Decimal("0.01")

_MERCHANTS = (
    ("Delhaize Brussel", "POS purchase", "PMNT-CCRD-POSD"),
    ("Colruyt Gent", "POS purchase", "PMNT-CCRD-POSD"),
    ("NMBS/SNCB", "Train ticket", "PMNT-CCRD-POSD"),
    ("Proximus", "Mobile subscription", "PMNT-RDDT-ESDD"),
    ("Engie Electrabel", "Energy advance", "PMNT-RDDT-ESDD"),
    ("Cafe Het Anker", "Contactless payment", "PMNT-CCRD-POSD"),
    ("Bol.com", "Online order", "PMNT-ICDT-ESCT"),
    ("Apotheek Centrum", "Pharmacy", "PMNT-CCRD-POSD"),
)
_PAYERS = (
    ("Sandbox Employer NV", "Salary", "PMNT-RCDT-ESCT"),
    ("FOD Financien", "Tax refund", "PMNT-RCDT-ESCT"),
    ("Jan Vermeulen", "Shared dinner", "PMNT-RCDT-ESCT"),
)


@dataclass(frozen=True, slots=True)
class Ledger:
    """One account's transactions as JSON bytes; booked lists are ascending by booking day."""

    booked_days: list[int]
    booked: list[bytes]
    pending_days: list[int]
    pending: list[bytes]
    information: list[bytes]
    details: dict[str, bytes]
    closing_booked: Decimal
    pending_total: Decimal

    def booked_window(self, first: date, last: date) -> tuple[int, int]:
        """Slice bounds of booked entries with ``first <= bookingDate <= last``."""
        lo = bisect_left(self.booked_days, first.toordinal())
        return lo, max(lo, bisect_right(self.booked_days, last.toordinal()))

    def pending_between(self, first: date, last: date) -> list[bytes]:
        lo = bisect_left(self.pending_days, first.toordinal())
        hi = bisect_right(self.pending_days, last.toordinal())
        return self.pending[lo:hi][::-1]


def money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def _entry(rng: random.Random, iban: str, day: date, booked: bool) -> tuple[Decimal, dict[str, Any]]:
    credit = rng.random() < 0.15
    name, remittance, code = rng.choice(_PAYERS if credit else _MERCHANTS)
    figure = Decimal(rng.randint(2000, 150000) if credit else rng.randint(150, 25000)) / 100
    signed = figure if credit else -figure
    party = {"iban": counterparty_iban(name)}
    entry: dict[str, Any] = {
        "transactionId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "entryReference": f"{iban[-8:]}-{rng.getrandbits(32):08x}",
        "valueDate": day.isoformat(),
        "transactionAmount": {"currency": "EUR", "amount": money(signed)},
        ("debtorName" if credit else "creditorName"): name,
        ("debtorAccount" if credit else "creditorAccount"): party,
        "remittanceInformationUnstructured": remittance,
        "bankTransactionCode": code,
    }
    if booked:
        entry["bookingDate"] = day.isoformat()
    return signed, entry


def counterparty_iban(name: str) -> str:
    return belgian_iban(999, sum(name.encode()) * 7919 % 10_000_000)


def _standing_order(rng: random.Random, today: date) -> bytes:
    start = today.replace(day=1) - timedelta(days=365)
    return dump(
        {
            "creditorName": "Immo Sandbox BV",
            "creditorAccount": {"iban": counterparty_iban("Immo Sandbox BV")},
            "transactionAmount": {"currency": "EUR", "amount": money(Decimal(rng.randint(600, 1200)))},
            "remittanceInformationUnstructured": "Rent",
            "bankTransactionCode": "PMNT-ICDT-STDO",
            "additionalInformationStructured": {
                "standingOrderDetails": {
                    "startDate": start.isoformat(),
                    "frequency": "Monthly",
                    "dayOfExecution": "1",
                    "executionRule": "following",
                }
            },
        }
    )


def generate(iban: str, today: date, closing_booked: Decimal) -> Ledger:
    """About 400 booked entries over the last 400 days (before today) and a few pending ones today.

    The history is drawn first and the booked balance is given, so every account has the
    closing balance its fixture names whatever the random draws were.
    """
    rng = random.Random(iban)
    days = sorted(today - timedelta(days=rng.randint(1, HISTORY_DAYS)) for _ in range(BOOKED_PER_ACCOUNT))
    booked = [_entry(rng, iban, day, booked=True) for day in days]
    pending = [_entry(rng, iban, today, booked=False) for _ in range(PENDING_PER_ACCOUNT)]
    details = {e["transactionId"]: dump({"transactionDetails": e}) for _, e in booked + pending}
    return Ledger(
        booked_days=[day.toordinal() for day in days],
        booked=[dump(e) for _, e in booked],
        pending_days=[today.toordinal()] * PENDING_PER_ACCOUNT,
        pending=[dump(e) for _, e in pending],
        information=[_standing_order(rng, today)],
        details=details,
        closing_booked=closing_booked,
        pending_total=sum((s for s, _ in pending), Decimal(0)),
    )
