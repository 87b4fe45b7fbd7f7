"""Failure policy: stale GOOD within 24 h, otherwise unavailable; timeouts bounded; odd certificates."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest
from support.revocation_server import RevocationServer

from gateway.eidas.issue import DevCA, IssuedCertificate
from gateway.store import Op, Outcome, StoreUnavailable

from .factories import Clock, MakeChecker

DAY = 86400.0


class DownStore:
    """A store that always fails."""

    async def run(self, ops: Sequence[Op], now_ms: int) -> list[Outcome]:
        raise StoreUnavailable("down")

    async def ping(self) -> None:
        raise StoreUnavailable("down")

    async def close(self) -> None:
        return None


async def test_responder_down_with_recent_good_uses_stale_cache(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker, clock: Clock
) -> None:
    """Responder down and a GOOD younger than 24 h: good from the stale cache, and it is counted."""
    checker = await make_checker(mode="ocsp", ocsp_backoff_s=0)
    assert (await checker.status(qwac.cert, server.ca.issuing.cert)).source == "ocsp"
    await server.down()
    clock.advance(DAY - 60)  # far past nextUpdate, still within max_stale_good_s
    verdict = await checker.status(qwac.cert, server.ca.issuing.cert)
    assert (verdict.status, verdict.source) == ("good", "stale-cache")
    assert (checker.stats.stale_good_used, checker.stats.responder_errors) == (1, 1)


async def test_responder_down_with_old_good_is_unavailable(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker, clock: Clock
) -> None:
    """A GOOD older than max_stale_good_s does not help."""
    checker = await make_checker(mode="ocsp", ocsp_backoff_s=0)
    await checker.status(qwac.cert, server.ca.issuing.cert)
    await server.down()
    clock.advance(DAY + 60)
    assert (await checker.status(qwac.cert, server.ca.issuing.cert)).status == "unavailable"
    assert checker.stats.stale_good_used == 0


async def test_responder_down_without_cache_is_unavailable(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker
) -> None:
    """Responder down and nothing cached: unavailable, never an exception."""
    await server.down()
    checker = await make_checker(mode="ocsp")
    verdict = await checker.status(qwac.cert, server.ca.issuing.cert)
    assert (verdict.status, verdict.source) == ("unavailable", "none")
    assert "OCSP" in verdict.reason


async def test_failed_responder_is_skipped_during_backoff(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker, clock: Clock
) -> None:
    """After a failure the responder is not asked again until the backoff has passed."""
    server.mode = "try-later"
    checker = await make_checker(mode="ocsp", ocsp_backoff_s=5)
    await checker.status(qwac.cert, server.ca.issuing.cert)
    server.mode = "ok"
    assert (await checker.status(qwac.cert, server.ca.issuing.cert)).status == "unavailable"
    clock.advance(6)
    assert (await checker.status(qwac.cert, server.ca.issuing.cert)).status == "good"
    assert server.ocsp_requests == 2


@pytest.mark.parametrize(
    ("mode", "limits", "budget_s"),
    [
        ("ocsp", {"ocsp_timeout_s": 1.0}, 1.0),
        ("crl", {"crl_timeout_s": 1.0}, 1.0),
        ("ocsp-then-crl", {"ocsp_timeout_s": 1.0}, 2.0),  # two sources: 2 s in all at most
    ],
)
async def test_frozen_responder_costs_at_most_the_timeout(
    server: RevocationServer,
    qwac: IssuedCertificate,
    make_checker: MakeChecker,
    mode: str,
    limits: dict[str, float],
    budget_s: float,
) -> None:
    """A frozen responder costs one timeout (2 s at most over all sources); the status is unavailable."""
    server.freeze(30)
    checker = await make_checker(mode=mode, **limits)
    started = time.monotonic()
    verdict = await checker.status(qwac.cert, server.ca.issuing.cert)
    assert time.monotonic() - started < budget_s + 0.5
    assert verdict.status == "unavailable"


@pytest.mark.parametrize(("allow", "expected"), [(True, "not-checked"), (False, "unavailable")])
async def test_certificate_without_endpoints(make_checker: MakeChecker, allow: bool, expected: str) -> None:
    """No CDP and no AIA: allowed (counted) or failed, as configured."""
    ca = DevCA.create()
    checker = await make_checker(allow_missing_endpoints=allow)
    verdict = await checker.status(ca.issue_qwac().cert, ca.issuing.cert)
    assert (verdict.status, checker.stats.missing_endpoints) == (expected, 1)


async def test_mode_off_checks_nothing(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker
) -> None:
    """mode off answers not-checked without a network call."""
    checker = await make_checker(mode="off")
    assert (await checker.status(qwac.cert, server.ca.issuing.cert)).status == "not-checked"
    assert server.ocsp_requests + server.crl_requests == 0


async def test_store_down_falls_back_to_process_cache(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker
) -> None:
    """With the store failing, answers still come and are reused from the in-process cache."""
    checker = await make_checker(DownStore(), mode="ocsp")
    assert (await checker.status(qwac.cert, server.ca.issuing.cert)).source == "ocsp"
    assert (await checker.status(qwac.cert, server.ca.issuing.cert)).source == "cache"
    assert server.ocsp_requests == 1
    assert checker.stats.store_errors == 2
