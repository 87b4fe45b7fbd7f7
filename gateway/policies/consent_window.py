"""``consent-window``: the time rules of a consent (seed 000, RTS Art. 10).

* validity: at most ``max-validity-days`` (180 since the amended RTS) at creation: a longer
  ``validUntil`` is rejected or capped; an expired consent gets CONSENT_EXPIRED;
* one-off consents (recurringIndicator=false, frequencyPerDay=1): "all AIS accounts access
  are authorised for a period of 20 minutes" after SCA, then CONSENT_EXPIRED;
* transactions older than 90 days (``dateFrom``/``date_from`` before today - 90): "authorised
  only if the consent is valid during 20 minutes after the SCA was performed", and for a
  recurring consent "restricted to the first request for the associated account after the
  SCA was performed"; in Belfius-style APIs a valid ``SCA-Token`` (seed 002) satisfies it.
The SCA time comes from the consent ledger or the access token's ``auth_time``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from gateway.config import doc
from gateway.errors import Code, Reject
from gateway.exchange import Exchange
from gateway.policies.base import FailMode
from gateway.sca_token import ScaTokenVerifier
from gateway.store.base import Once, Outcome, key

MINUTE_MS = 60_000
_TRANSACTIONS = re.compile(r"/(?:card-)?accounts/([^/]+)/transactions/?$")


@dataclass(frozen=True)
class ConsentWindowConfig:
    max_validity_days: int = doc("Longest consent validity accepted at creation.", default=180, minimum=1)
    on_longer_validity: Literal["reject", "cap"] = doc(
        "A longer validUntil is rejected or capped.", default="reject"
    )
    after_sca_minutes: int = doc(
        "Minutes after SCA for one-off access and old transactions.", default=20, minimum=1
    )
    history_days: int = doc("Transactions older than this need a fresh SCA.", default=90, minimum=1)
    date_from_params: list[str] = doc(
        "Query parameters giving the start date.", factory=lambda: ["dateFrom", "date_from"]
    )
    period_code: Literal["PERIOD_INVALID", "CONSENT_INVALID"] = doc(
        "Code when old transactions are refused.", default="PERIOD_INVALID"
    )
    sca_token_header: str = doc("Header of a bank-issued SCA token (Belfius-style).", default="SCA-Token")
    sca_token_jwks_file: Path | None = doc("JWKS with the keys that sign SCA tokens.", default=None)
    sca_token_public_keys: list[Path] = doc("PEM keys that sign SCA tokens.", factory=list)
    sca_token_max_age_s: int = doc("An SCA token proves an SCA this recent.", default=3600, minimum=1)


class ConsentWindowPolicy:
    name: ClassVar[str] = "consent-window"
    Config: ClassVar[type[ConsentWindowConfig]] = ConsentWindowConfig
    default_fail: ClassVar[FailMode] = "closed"
    needs_consent: ClassVar[bool] = True

    def __init__(self, config: ConsentWindowConfig) -> None:
        self.config = config
        self.sca_tokens = (
            ScaTokenVerifier(
                config.sca_token_jwks_file, config.sca_token_public_keys, config.sca_token_max_age_s
            )
            if config.sca_token_jwks_file or config.sca_token_public_keys
            else None
        )
        self.after_sca_ms = config.after_sca_minutes * MINUTE_MS
        self.period_code = Code(config.period_code)

    async def enforce(self, ex: Exchange) -> None:
        if ex.method == "POST" and not ex.consent_id:
            self._check_new_consent(ex)
            return
        facts = ex.consent
        if facts is None or ex.method != "GET":
            return
        today = _date(ex.now_ms)
        if facts.valid_until is not None and facts.valid_until < today.isoformat():
            raise Reject(Code.CONSENT_EXPIRED, "The consent has expired.")
        sca = ex.sca_time_ms()
        if facts.one_off and sca is not None and ex.now_ms > sca + self.after_sca_ms:
            minutes = self.config.after_sca_minutes
            raise Reject(
                Code.CONSENT_EXPIRED, f"A one-off consent gives access for {minutes} minutes after SCA."
            )
        self._check_history(ex, today, sca, facts.one_off)

    def _check_history(self, ex: Exchange, today: dt.date, sca: int | None, one_off: bool) -> None:
        match = _TRANSACTIONS.search(ex.target.path)
        date_from = self._date_from(ex)
        if (
            match is None
            or date_from is None
            or date_from >= today - dt.timedelta(days=self.config.history_days)
        ):
            return
        days = self.config.history_days
        if self._sca_token_proves_sca(ex):
            return
        if sca is None or ex.now_ms > sca + self.after_sca_ms:
            minutes = self.config.after_sca_minutes
            raise Reject(
                self.period_code, f"Transactions older than {days} days need an SCA within {minutes} minutes."
            )
        if one_off:
            return
        first = key(ex.tpp_tag, "history", ex.consent_id, match.group(1), str(sca))
        ex.defer(Once(first, self.after_sca_ms), lambda outcome: self._first_only(outcome, days))

    def _sca_token_proves_sca(self, ex: Exchange) -> bool:
        if self.sca_tokens is None:
            return False
        token = ex.headers.get(self.config.sca_token_header)
        return token is not None and self.sca_tokens.sca_time_ms(token, ex.now_ms) is not None

    def _first_only(self, outcome: Outcome, days: int) -> None:
        if not outcome.allowed:
            text = f"Transactions older than {days} days: only the first request per account after SCA."
            raise Reject(self.period_code, text)

    def _date_from(self, ex: Exchange) -> dt.date | None:
        params = ex.target.query_params()
        for name in self.config.date_from_params:
            if name in params:
                try:
                    return dt.date.fromisoformat(params[name])
                except ValueError:
                    raise Reject(
                        Code.FORMAT_ERROR, f"Query parameter {name} must be a date (YYYY-MM-DD)."
                    ) from None
        return None

    def _check_new_consent(self, ex: Exchange) -> None:
        body = _json_object(ex.body)
        valid_until = body.get("validUntil")
        if not isinstance(valid_until, str):
            return
        try:
            until = dt.date.fromisoformat(valid_until)
        except ValueError:
            raise Reject(Code.FORMAT_ERROR, "validUntil must be a date (YYYY-MM-DD).") from None
        latest = _date(ex.now_ms) + dt.timedelta(days=self.config.max_validity_days)
        if until <= latest:
            return
        if self.config.on_longer_validity == "reject":
            days = self.config.max_validity_days
            raise Reject(Code.FORMAT_ERROR, f"validUntil may be at most {days} days ahead.")
        body["validUntil"] = latest.isoformat()
        ex.body = json.dumps(body, separators=(",", ":")).encode()


def _date(now_ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(now_ms / 1000, dt.UTC).date()


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body) if body else {}
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}
