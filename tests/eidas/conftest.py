"""Shared factories: one dev QTSP per test session (key generation is the slow part)."""

from __future__ import annotations

import pytest

from gateway.eidas.issue import DevCA


@pytest.fixture(scope="session")
def dev_ca() -> DevCA:
    return DevCA.create(revocation_base_url="http://127.0.0.1:8099")
