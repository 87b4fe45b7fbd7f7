"""Fixtures for the sandbox core: a fake clock and a test client on a fresh sandbox app."""

from __future__ import annotations

import pytest
from pytest_aiohttp import AiohttpClient

from gateway.sandbox import create_sandbox_app

from .factories import START, Client, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, clock: FakeClock) -> Client:
    return await aiohttp_client(create_sandbox_app(clock=clock))
