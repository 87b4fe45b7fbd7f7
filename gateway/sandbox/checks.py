"""Field checks for request bodies and query strings; each failure is a 400 naming the field.

Every function takes untyped JSON (``Any``) and either returns a typed value or raises
``SandboxError``: arbitrary input can never escape as a ``TypeError`` or ``KeyError``.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from .iban import iban_is_valid
from .wire import SandboxError, format_error

# Spec 1.3.11 components: amountValue, currencyCode, iban.
_AMOUNT = re.compile(r"-?[0-9]{1,14}(\.[0-9]{1,3})?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}")


def obj(body: Any, name: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise format_error(f"{name} must be an object")
    return body


def text(body: dict[str, Any], name: str, max_len: int = 140, prefix: str = "") -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise format_error(f"{prefix}{name} must be a non-empty string of at most {max_len} characters")
    return value


def flag(body: dict[str, Any], name: str, default: bool | None = None) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise format_error(f"{name} must be a boolean")
    return value


def positive_int(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise format_error(f"{name} must be an integer of at least 1")
    return value


def iso_date(value: Any, name: str) -> date:
    if not isinstance(value, str) or len(value) != 10:
        raise format_error(f"{name} must be an ISO date (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise format_error(f"{name} must be an ISO date (YYYY-MM-DD)") from e


def iban(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _IBAN.fullmatch(value):
        raise format_error(f"{name} is not an IBAN")
    if not iban_is_valid(value):
        raise format_error(f"{name} has invalid check digits")
    return value


def account_reference(body: dict[str, Any], name: str) -> dict[str, Any]:
    """An accountReference: an IBAN (checked) or another identifier such as a BBAN."""
    ref = obj(body.get(name), name)
    if "iban" in ref:
        iban(ref["iban"], f"{name}.iban")
    elif not any(isinstance(ref.get(k), str) and ref[k] for k in ("bban", "pan", "maskedPan", "msisdn")):
        raise format_error(f"{name} must contain an iban, bban, pan, maskedPan or msisdn")
    currency = ref.get("currency")
    if currency is not None and not (isinstance(currency, str) and _CURRENCY.fullmatch(currency)):
        raise format_error(f"{name}.currency must be an ISO 4217 code")
    return ref


def amount(body: dict[str, Any], name: str) -> tuple[str, Decimal]:
    """An amount object ``{currency, amount}``; the amount must be a positive decimal string."""
    value = obj(body.get(name), name)
    currency, figure = value.get("currency"), value.get("amount")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise format_error(f"{name}.currency must be an ISO 4217 code")
    if not isinstance(figure, str) or not _AMOUNT.fullmatch(figure):
        raise format_error(f"{name}.amount must be a decimal string such as 123.45")
    try:
        parsed = Decimal(figure)
    except InvalidOperation as e:  # pragma: no cover - the pattern already excludes this
        raise format_error(f"{name}.amount is not a number") from e
    if parsed <= 0:
        raise format_error(f"{name}.amount must be positive")
    return currency, parsed


def query_int(query: Any, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) < 7) or not (
        low <= int(raw) <= high
    ):
        raise format_error(f"query parameter {name} must be an integer from {low} to {high}")
    return int(raw)


def query_flag(query: Any, name: str) -> bool:
    raw = query.get(name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise SandboxError(400, "FORMAT_ERROR", f"query parameter {name} must be true or false")
    return bool(raw == "true")
