"""Consent facts, learned by watching the traffic the gateway forwards.

Cores that know nothing of PSD2 cannot tell the gateway what a consent allows, so the gateway
learns it on the way through (Berlin Group 1.3 section 6.3):

* ``POST /v1/consents`` -> the request body gives ``recurringIndicator``, ``frequencyPerDay``,
  ``validUntil``, ``combinedServiceIndicator``; the 201 answer gives ``consentId``;
* consent status / consent / authorisation answers -> ``consentStatus`` and ``scaStatus``:
  the first time a consent is seen ``valid`` (or an authorisation ``finalised``) is its SCA time;
* ``DELETE /v1/consents/{id}`` -> terminated;
* an access token's ``auth_time`` claim, when present, is a more exact SCA time.

Facts live in the shared store (one key per consent, hash-tagged by the consent id) with a
short in-process cache in front, so the steady state costs no extra round trip. A consent
is bound to the TPP that created it (``owner``): another TPP presenting its id is refused by
the ``consent-binding`` policy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from gateway.store.base import Read, Store, StoreUnavailable, Write, key

# A consent's facts outlive its validity by this much, so late requests still get a precise error.
RETENTION_MS = 7 * 86_400_000
LOCAL_CACHE_S = 30.0
MAX_LOCAL_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class ConsentFacts:
    consent_id: str
    owner: str
    recurring: bool = True
    frequency_per_day: int | None = None
    valid_until: str | None = None  # ISO date, as the TPP asked (Berlin Group: date)
    combined_service: bool = False
    status: str = "received"
    sca_time_ms: int | None = None

    @property
    def one_off(self) -> bool:
        """Seed 000: recurringIndicator=false and frequencyPerDay=1 make a one-off consent."""
        return not self.recurring and self.frequency_per_day == 1

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> ConsentFacts | None:
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None


def consent_key(consent_id: str) -> str:
    return key(consent_id, "consent")


class ConsentLedger:
    """Reads and records consent facts; a store failure degrades to "facts unknown", never to a crash."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._local: dict[str, tuple[float, ConsentFacts | None]] = {}

    async def facts(self, consent_id: str) -> ConsentFacts | None:
        """The facts of ``consent_id``; None when the gateway never saw it.

        Raises ``StoreUnavailable`` when the store is away and nothing is cached, so the caller
        can apply the rules' fail modes at once instead of waiting out a second budget.
        """
        cached = self._local.get(consent_id)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        try:
            (outcome,) = await self.store.run([Read(consent_key(consent_id))], self._now_ms())
        except StoreUnavailable:
            if cached is not None:
                return cached[1]
            raise
        facts = ConsentFacts.decode(outcome.value) if outcome.value else None
        self._remember(consent_id, facts)
        return facts

    async def record(self, facts: ConsentFacts) -> None:
        ttl = RETENTION_MS + _ms_until(facts.valid_until, self._now_ms())
        # On a store failure the consent's rules use the bank maximum until the facts are seen again.
        with contextlib.suppress(StoreUnavailable):
            await self.store.run([Write(consent_key(facts.consent_id), facts.encode(), ttl)], self._now_ms())
        self._remember(facts.consent_id, facts)

    async def created(self, owner: str, consent_id: str, request: dict[str, Any], status: str) -> None:
        await self.record(
            ConsentFacts(
                consent_id=consent_id,
                owner=owner,
                recurring=request.get("recurringIndicator") is not False,
                frequency_per_day=_int_or_none(request.get("frequencyPerDay")),
                valid_until=request.get("validUntil") if isinstance(request.get("validUntil"), str) else None,
                combined_service=request.get("combinedServiceIndicator") is True,
                status=status,
            )
        )

    async def status_seen(
        self, owner: str, consent_id: str, status: str, sca_time_ms: int | None = None
    ) -> None:
        """A consent status seen in an answer; ``valid`` the first time means SCA just happened."""
        try:
            facts = await self.facts(consent_id)
        except StoreUnavailable:
            return  # learnt again from the next answer about this consent
        if facts is None or facts.owner != owner:
            return
        sca = facts.sca_time_ms
        if status == "valid" and (sca is None or (sca_time_ms is not None and sca_time_ms > sca)):
            sca = sca_time_ms if sca_time_ms is not None else self._now_ms()
        if status != facts.status or sca != facts.sca_time_ms:
            await self.record(replace(facts, status=status, sca_time_ms=sca))

    def _remember(self, consent_id: str, facts: ConsentFacts | None) -> None:
        if len(self._local) >= MAX_LOCAL_ENTRIES:
            self._local.clear()
        self._local[consent_id] = (self.clock() + LOCAL_CACHE_S, facts)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _ms_until(iso_date: str | None, now_ms: int) -> int:
    if not iso_date:
        return 0
    try:
        end = dt.datetime.fromisoformat(iso_date).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
    except ValueError:
        return 0
    return max(int(end.timestamp() * 1000) - now_ms, 0)
