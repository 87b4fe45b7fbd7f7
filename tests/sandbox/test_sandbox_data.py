"""Static bank data (IBANs, ledgers, balances) and the body checks under arbitrary JSON."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.sandbox import access, checks, consents, payments
from gateway.sandbox.data import build_bank
from gateway.sandbox.iban import belgian_iban, iban_is_valid
from gateway.sandbox.wire import SandboxError

from .factories import TODAY

BANK = build_bank(TODAY)
ACCOUNTS = list(BANK.accounts.values())

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_FIELDS = [
    "access",
    "account",
    "allPsd2",
    "accounts",
    "iban",
    "instructedAmount",
    "amount",
    "currency",
    "creditorAccount",
    "creditorName",
    "payments",
    "debtorAccount",
    "validUntil",
    "frequencyPerDay",
    "recurringIndicator",
    "startDate",
    "frequency",
]
_bodies = st.dictionaries(st.sampled_from(_FIELDS), _json | st.dictionaries(st.sampled_from(_FIELDS), _json))


@pytest.mark.parametrize("iban", ["BE68539007547034", "BE71096123456769", "DE89370400440532013000"])
def test_known_ibans_validate(iban: str) -> None:
    """Published example IBANs pass the mod-97 check."""
    assert iban_is_valid(iban)


def test_sandbox_ibans_have_valid_check_digits() -> None:
    """Every account IBAN is Belgian, 16 characters and passes both mod-97 and the national check."""
    for account in ACCOUNTS:
        iban = account.iban
        assert iban.startswith("BE") and len(iban) == 16 and iban_is_valid(iban)
        assert int(iban[4:14]) % 97 == int(iban[14:]) or (int(iban[4:14]) % 97 == 0 and iban[14:] == "97")


@given(st.integers(0, 999), st.integers(0, 9_999_999))
def test_generated_belgian_ibans_validate(bank: int, number: int) -> None:
    """belgian_iban always yields an IBAN that iban_is_valid accepts."""
    assert iban_is_valid(belgian_iban(bank, number))


@given(st.integers(4, 15), st.integers(1, 9))
def test_a_changed_digit_breaks_the_check(position: int, delta: int) -> None:
    """Changing any one BBAN digit of a valid IBAN makes it invalid."""
    iban = ACCOUNTS[0].iban
    digit = str((int(iban[position]) + delta) % 10)
    assert not iban_is_valid(iban[:position] + digit + iban[position + 1 :])


def test_psus_and_accounts_shape() -> None:
    """Three PSUs hold one to three EUR accounts each, with distinct resource ids."""
    assert list(BANK.psus) == ["PSU-1001", "PSU-1002", "PSU-1003"]
    assert all(1 <= len(p.accounts) <= 3 for p in BANK.psus.values())
    assert len({a.resource_id for a in ACCOUNTS}) == len(ACCOUNTS)


def test_ledgers_are_deterministic_and_sorted() -> None:
    """The same day builds byte-identical ledgers; booked days ascend within the last 400 days."""
    build_bank.cache_clear()
    again = build_bank(TODAY)
    for account in ACCOUNTS:
        ledger = account.ledger
        assert again.by_iban[account.iban].ledger.booked == ledger.booked
        assert ledger.booked_days == sorted(ledger.booked_days) and len(ledger.booked) == 400
        assert (TODAY - timedelta(days=400)).toordinal() <= ledger.booked_days[0]
        assert ledger.booked_days[-1] < TODAY.toordinal()


def test_balances_agree_with_pending_entries() -> None:
    """interimAvailable equals closingBooked plus the pending amounts."""
    for account in ACCOUNTS:
        amounts = {b["balanceType"]: Decimal(b["balanceAmount"]["amount"]) for b in account.balances}
        pending = sum(Decimal(json.loads(p)["transactionAmount"]["amount"]) for p in account.ledger.pending)
        assert amounts["interimAvailable"] == amounts["closingBooked"] + pending == account.available


def test_booked_window_bounds() -> None:
    """booked_window returns exactly the entries whose day lies within the bounds."""
    ledger = ACCOUNTS[0].ledger
    first, last = TODAY - timedelta(days=50), TODAY - timedelta(days=20)
    lo, hi = ledger.booked_window(first, last)
    inside = [d for d in ledger.booked_days if first.toordinal() <= d <= last.toordinal()]
    assert ledger.booked_days[lo:hi] == inside
    assert ledger.booked_window(date(2000, 1, 1), date(2000, 1, 2)) == (0, 0)


def _only_sandbox_errors(check: Any, *args: Any) -> None:
    try:
        check(*args)
    except SandboxError as e:
        assert e.status in (400, 401) and e.code


@given(_bodies)
def test_consent_checks_never_raise_anything_else(body: dict[str, Any]) -> None:
    """Arbitrary JSON either passes the consent checks or raises a 400 SandboxError."""
    _only_sandbox_errors(consents.validate, body, TODAY)
    access_object = body.get("access")
    if isinstance(access_object, dict):
        _only_sandbox_errors(access.resolve, access_object, BANK.default_psu)


@given(st.sampled_from(sorted(payments.VALIDATORS)), _bodies)
def test_payment_checks_never_raise_anything_else(service: str, body: dict[str, Any]) -> None:
    """Arbitrary JSON either passes a payment service's checks or raises a 400 SandboxError."""
    _only_sandbox_errors(payments.VALIDATORS[service], body)


@given(_bodies)
def test_funds_checks_never_raise_anything_else(body: dict[str, Any]) -> None:
    """Arbitrary JSON either passes the funds-confirmation checks or raises a 400 SandboxError."""
    _only_sandbox_errors(checks.account_reference, body, "account")
    _only_sandbox_errors(checks.amount, body, "instructedAmount")
