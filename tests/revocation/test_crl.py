"""CRLs: prefetched, refreshed before nextUpdate, used only when current and signed by the issuer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from support.revocation_server import Mode, RevocationServer

from gateway.eidas.crl import CrlKeeper, distribution_points, parse_crl, signed_by
from gateway.eidas.issue import DevCA, IssuedCertificate, issue_crl
from gateway.eidas.revocation import RevocationConfig, RevocationStats

from .factories import Clock, MakeChecker, eventually

DER = serialization.Encoding.DER


def crl_url(server: RevocationServer) -> str:
    return f"{server.url}/crl/issuing.crl"


async def test_good_by_prefetched_crl(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker, clock: Clock
) -> None:
    """A certificate absent from the prefetched CRL is good, with no OCSP call, until the next refresh."""
    checker = await make_checker(crl_urls=(crl_url(server),))
    verdict = await checker.status(qwac.cert, server.ca.issuing.cert)
    assert (verdict.status, verdict.source) == ("good", "crl")
    assert clock.now < verdict.valid_until <= clock.now + 3600
    assert (server.crl_requests, server.ocsp_requests) == (1, 0)
    assert checker.stats.crl_refresh_ok == 1
    assert checker.stats.crl_last_refresh == {crl_url(server): clock.now}


async def test_revoked_by_crl(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker
) -> None:
    """A serial listed in the issuer's CRL is revoked."""
    server.revoked.add(qwac.cert.serial_number)
    checker = await make_checker(mode="crl", crl_urls=(crl_url(server),))
    verdict = await checker.status(qwac.cert, server.ca.issuing.cert)
    assert (verdict.status, verdict.source) == ("revoked", "crl")


async def test_crl_refreshed_before_next_update(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker, clock: Clock
) -> None:
    """At 80% of the CRL's interval the background task fetches it again and sees a new revocation."""
    checker = await make_checker(mode="crl", crl_urls=(crl_url(server),))
    assert (await checker.status(qwac.cert, server.ca.issuing.cert)).status == "good"
    server.revoked.add(qwac.cert.serial_number)
    clock.advance(0.8 * server.crl_next_update_s + 1)  # still before nextUpdate
    await eventually(lambda: checker.stats.crl_refresh_ok == 2)
    assert server.crl_requests == 2
    assert checker.stats.crl_last_refresh[crl_url(server)] == clock.now
    assert (await checker.status(qwac.cert, server.ca.issuing.cert)).status == "revoked"


@pytest.mark.parametrize("mode", ["bad-signature", "other-issuer", "garbage", "try-later"])
async def test_unusable_crl_is_not_used(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker, mode: Mode
) -> None:
    """A CRL with a bad signature, of another issuer, or not a CRL at all never answers."""
    server.mode = mode
    server.revoked.add(qwac.cert.serial_number)
    checker = await make_checker(mode="crl", crl_urls=(crl_url(server),))
    verdict = await checker.status(qwac.cert, server.ca.issuing.cert)
    assert (verdict.status, verdict.source) == ("unavailable", "none")


async def test_unusable_crl_hands_over_to_ocsp(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker
) -> None:
    """In crl-then-ocsp mode a CRL that fails verification leaves the answer to OCSP."""
    server.mode = "other-issuer"
    checker = await make_checker(crl_urls=(crl_url(server),))
    server.mode = "ok"
    verdict = await checker.status(qwac.cert, server.ca.issuing.cert)
    assert (verdict.status, verdict.source) == ("good", "ocsp")


async def test_stale_crl_is_not_used(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker, clock: Clock
) -> None:
    """Past nextUpdate plus the grace (and with refreshes failing) the CRL no longer answers."""
    checker = await make_checker(mode="crl", crl_urls=(crl_url(server),), crl_grace_s=60, max_stale_good_s=0)
    await server.down()
    clock.advance(server.crl_next_update_s + 30)  # within the grace
    assert (await checker.status(qwac.cert, server.ca.issuing.cert)).source == "crl"
    clock.advance(60)
    assert (await checker.status(qwac.cert, server.ca.issuing.cert)).status == "unavailable"
    assert checker.stats.crl_refresh_failed >= 1


async def test_crl_met_at_run_time_is_fetched_and_kept(
    server: RevocationServer, make_checker: MakeChecker
) -> None:
    """crl-then-ocsp: OCSP answers the first certificate while its CRL downloads; the CRL answers next."""
    checker = await make_checker()
    first, second = server.ca.issue_qwac(), server.ca.issue_qwac()
    assert (await checker.status(first.cert, server.ca.issuing.cert)).source == "ocsp"
    await eventually(lambda: checker.stats.crl_refresh_ok == 1)
    assert (await checker.status(second.cert, server.ca.issuing.cert)).source == "crl"
    assert server.ocsp_requests == 1


async def test_crl_mode_fetches_a_missing_crl_inline(
    server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker
) -> None:
    """In crl mode the first request for an unknown distribution point waits for its download."""
    checker = await make_checker(mode="crl")
    verdict = await checker.status(qwac.cert, server.ca.issuing.cert)
    assert (verdict.status, verdict.source, server.crl_requests) == ("good", "crl", 1)


async def test_run_time_crls_are_bounded(server: RevocationServer, clock: Clock) -> None:
    """Beyond max_crls the least recently used run-time CRL (and its refresh time) makes room."""
    stats = RevocationStats()
    der = issue_crl(server.ca, [], datetime.now(UTC), datetime.now(UTC) + timedelta(hours=1)).public_bytes(
        DER
    )

    async def fetch(url: str, timeout_s: float) -> bytes:
        return der

    keeper = CrlKeeper(RevocationConfig(max_crls=2), fetch, clock, stats)
    for url in ("http://a/1.crl", "http://b/2.crl", "http://c/3.crl"):
        clock.advance(1)
        await keeper.fetch([url], 1.0)
    qwac = server.ca.issue_qwac().cert
    assert keeper.lookup(qwac, ["http://a/1.crl"], server.ca.issuing.cert) is None
    assert keeper.lookup(qwac, ["http://c/3.crl"], server.ca.issuing.cert) is not None
    assert sorted(stats.crl_last_refresh) == ["http://b/2.crl", "http://c/3.crl"]
    await keeper.close()


def test_signed_by_checks_name_and_signature(server: RevocationServer) -> None:
    """signed_by accepts the issuer's own CRL only."""
    now = datetime.now(UTC)
    other = DevCA.create("Other QTSP")
    own = issue_crl(server.ca, [], now, now + timedelta(hours=1))
    assert signed_by(own, server.ca.issuing.cert)
    assert not signed_by(own, other.issuing.cert)
    assert not signed_by(issue_crl(other, [], now, now + timedelta(hours=1)), server.ca.issuing.cert)


def test_parse_crl_collects_serials_and_times(server: RevocationServer) -> None:
    """parse_crl reads the revoked serials and the update times in epoch seconds."""
    now = datetime.now(UTC).replace(microsecond=0)
    crl = issue_crl(server.ca, [5, 7], now, now + timedelta(hours=1))
    parsed = parse_crl(crl.public_bytes(DER))
    assert parsed.revoked == {5, 7}
    assert parsed.next_update - parsed.this_update == 3600


def test_distribution_points(qwac: IssuedCertificate, server: RevocationServer) -> None:
    """The CDP URL of a dev QWAC is the responder's CRL path; a certificate without one has none."""
    assert distribution_points(qwac.cert) == [crl_url(server)]
    assert distribution_points(DevCA.create().issue_qwac().cert) == []
