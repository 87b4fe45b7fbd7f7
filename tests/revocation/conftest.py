"""Fixtures: an injected clock, a loopback CRL/OCSP responder with its dev CA, checkers closed after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from support.revocation_server import RevocationServer

from gateway.eidas.issue import DevCA, IssuedCertificate
from gateway.eidas.revocation import RevocationChecker, RevocationConfig
from gateway.store import MemoryStore, Store

from .factories import Clock, MakeChecker


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def server(clock: Clock) -> AsyncIterator[RevocationServer]:
    """A responder serving a fresh dev CA whose certificates point at it."""
    server = RevocationServer(clock=clock)
    server.attach(DevCA.create(revocation_base_url=await server.start()))
    yield server
    await server.close()


@pytest.fixture
def qwac(server: RevocationServer) -> IssuedCertificate:
    return server.ca.issue_qwac()


@pytest.fixture
async def make_checker(clock: Clock) -> AsyncIterator[MakeChecker]:
    """Started checkers on the injected clock (each on a fresh memory store unless one is given)."""
    made: list[RevocationChecker] = []

    async def make(store: Store | None = None, /, **config: Any) -> RevocationChecker:
        checker = RevocationChecker(RevocationConfig(**config), store or MemoryStore(), clock=clock)
        await checker.start()
        made.append(checker)
        return checker

    yield make
    for checker in made:
        await checker.close()
