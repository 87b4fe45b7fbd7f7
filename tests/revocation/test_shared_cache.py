"""OCSP verdicts are shared through the store: every replica answers from one responder call."""

from __future__ import annotations

import re

from support.revocation_server import RevocationServer

from gateway.eidas.issue import IssuedCertificate
from gateway.eidas.ocsp import issuer_key_hash
from gateway.store import Read, Store, key

from .factories import Clock, MakeChecker


async def test_second_replica_answers_from_the_store(
    store: Store, server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker
) -> None:
    """Two checkers on one store: the second answers from the cache without an OCSP request."""
    first, second = await make_checker(store, mode="ocsp"), await make_checker(store, mode="ocsp")
    assert (await first.status(qwac.cert, server.ca.issuing.cert)).source == "ocsp"
    verdict = await second.status(qwac.cert, server.ca.issuing.cert)
    assert (verdict.status, verdict.source) == ("good", "cache")
    assert server.ocsp_requests == 1


async def test_revoked_is_shared_too(
    store: Store, server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker
) -> None:
    """A REVOKED answer reaches the other replica as revoked."""
    server.revoked.add(qwac.cert.serial_number)
    first, second = await make_checker(store, mode="ocsp"), await make_checker(store, mode="ocsp")
    await first.status(qwac.cert, server.ca.issuing.cert)
    assert (await second.status(qwac.cert, server.ca.issuing.cert)).status == "revoked"


async def test_stored_value_is_compact(
    store: Store, server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker, clock: Clock
) -> None:
    """The key names issuer key hash and serial; the value is status:checked:nextUpdate in epoch seconds."""
    checker = await make_checker(store, mode="ocsp")
    await checker.status(qwac.cert, server.ca.issuing.cert)
    tag = f"rev:{issuer_key_hash(server.ca.issuing.cert).hex()}:{qwac.cert.serial_number:x}"
    (outcome,) = await store.run([Read(key(tag, "ocsp"))], int(clock.now * 1000))
    assert outcome.value is not None
    assert re.fullmatch(r"g:\d+:\d+", outcome.value)
    _, checked, next_update = outcome.value.split(":")
    assert int(checked) == int(clock.now)
    assert int(next_update) == int(clock.now + server.ocsp_next_update_s)  # type: ignore[operator]


async def test_stale_good_from_another_replica(
    store: Store, server: RevocationServer, qwac: IssuedCertificate, make_checker: MakeChecker, clock: Clock
) -> None:
    """A replica that never asked uses another replica's recent GOOD when the responder is down."""
    first, second = await make_checker(store, mode="ocsp"), await make_checker(store, mode="ocsp")
    await first.status(qwac.cert, server.ca.issuing.cert)
    await server.down()
    clock.advance(7200)
    verdict = await second.status(qwac.cert, server.ca.issuing.cert)
    assert (verdict.status, verdict.source) == ("good", "stale-cache")
    assert second.stats.stale_good_used == 1
