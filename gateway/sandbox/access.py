"""What an AIS consent lets a TPP see: the ``access`` object resolved against one PSU.

The response bodies a consent can produce (account list, account details, with and
without balances) are serialised here once, when the consent is created or its SCA
names a PSU, so account requests only pick bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .data import Account, Psu
from .wire import SandboxError, dump, format_error

GLOBAL_VALUES = frozenset({"allAccounts", "allAccountsWithOwnerName"})
_DEDICATED = ("accounts", "balances", "transactions")


@dataclass(frozen=True, slots=True)
class Grants:
    """Accounts by resourceId a consent covers for each service, plus precomputed bodies."""

    psu: Psu
    accounts: tuple[Account, ...]
    balances: frozenset[str]
    transactions: frozenset[str]
    card_list_body: bytes
    list_body: bytes
    list_with_balances: bytes
    detail: dict[str, bytes]
    detail_with_balances: dict[str, bytes]


def _global(access: dict[str, Any], name: str) -> bool:
    value = access.get(name)
    if value is None:
        return False
    if not isinstance(value, str) or value not in GLOBAL_VALUES:
        raise format_error(f"access.{name} must be allAccounts or allAccountsWithOwnerName")
    return True


def _ibans(access: dict[str, Any], name: str) -> set[str]:
    refs = access.get(name, [])
    if not isinstance(refs, list):
        raise format_error(f"access.{name} must be an array of account references")
    found: set[str] = set()
    for index, ref in enumerate(refs):
        iban = ref.get("iban") if isinstance(ref, dict) else None
        if not isinstance(iban, str):
            raise format_error(f"access.{name}[{index}] must be an object with an iban")
        found.add(iban)
    return found


def dedicated_ibans(access: dict[str, Any]) -> list[str]:
    """Every IBAN the access object names, in a stable order (used to guess the PSU)."""
    return sorted(set().union(*(_ibans(access, name) for name in _DEDICATED)))


def _scopes(access: dict[str, Any], psu: Psu) -> tuple[set[str], set[str], set[str], bool]:
    everything = {a.iban for a in psu.accounts}
    if _global(access, "allPsd2"):
        return everything, everything, everything, True
    if _global(access, "availableAccountsWithBalance"):
        return everything, everything, set(), True
    if _global(access, "availableAccounts"):
        return everything, set(), set(), True
    listed, balances, transactions = (_ibans(access, name) for name in _DEDICATED)
    if not listed | balances | transactions:
        raise format_error("access must name accounts, balances or transactions, or a global scope")
    for iban in sorted((listed | balances | transactions) - everything):
        raise SandboxError(400, "RESOURCE_UNKNOWN", f"{iban} is not an account of {psu.psu_id}")
    return listed | balances | transactions, balances, transactions, False


def _detail(account: Account, balances: bool, transactions: bool, with_balances: bool) -> dict[str, Any]:
    base = f"/v1/accounts/{account.resource_id}"
    links = {}
    if balances:
        links["balances"] = {"href": f"{base}/balances"}
    if transactions:
        links["transactions"] = {"href": f"{base}/transactions"}
    body = dict(account.details)
    if with_balances and balances:
        body["balances"] = account.balances
    return {**body, "_links": links}


def resolve(access: dict[str, Any], psu: Psu) -> Grants:
    """Resolve ``access`` for ``psu``; 400 FORMAT_ERROR/RESOURCE_UNKNOWN when it cannot apply."""
    listed, balances, transactions, cards = _scopes(access, psu)
    accounts = tuple(a for a in psu.accounts if a.iban in listed)
    bal_ids = frozenset(a.resource_id for a in accounts if a.iban in balances)
    txn_ids = frozenset(a.resource_id for a in accounts if a.iban in transactions)

    def details(with_balances: bool) -> list[dict[str, Any]]:
        return [
            _detail(a, a.resource_id in bal_ids, a.resource_id in txn_ids, with_balances) for a in accounts
        ]

    plain, rich = details(False), details(True)
    return Grants(
        psu=psu,
        accounts=accounts,
        balances=bal_ids,
        transactions=txn_ids,
        card_list_body=dump({"cardAccounts": [psu.card] if cards else []}),
        list_body=dump({"accounts": plain}),
        list_with_balances=dump({"accounts": rich}),
        detail={a.resource_id: dump({"account": d}) for a, d in zip(accounts, plain, strict=True)},
        detail_with_balances={
            a.resource_id: dump({"account": d}) for a, d in zip(accounts, rich, strict=True)
        },
    )
