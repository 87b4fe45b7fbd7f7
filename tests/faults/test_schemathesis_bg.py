"""Schemathesis against the gateway and its built-in sandbox core: no 5xx from the gateway.

The Berlin Group 1.3.11 OpenAPI drives generated requests (a few operations: consents, accounts,
payments, funds confirmations; few examples each; a ~60 s budget for the module). A hook adds a
fresh X-Request-ID (UUID) to every request, a ``requests`` session presents the TPP's QWAC.
"""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is not installed (pip install schemathesis)"
)
requests = pytest.importorskip("requests")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from support.pki import Pem, TestPki  # noqa: E402
from support.process import GatewayProcess  # noqa: E402

pytestmark = pytest.mark.resilience

SPEC = Path(__file__).resolve().parents[2] / "gateway" / "openapi" / "psd2-api_v1.3.11-2021-10-01v1.yaml"
OPERATIONS = r"^/v1/(consents|accounts|\{payment-service\}/\{payment-product\}|funds-confirmations)$"
BUDGET_S = 60.0


@schemathesis.hook
def map_headers(context: Any, headers: dict[str, Any] | None) -> dict[str, Any]:
    """Every generated request gets a fresh, valid X-Request-ID (the gateway checks it first)."""
    return {**(headers or {}), "X-Request-ID": str(uuid.uuid4())}


@pytest.fixture(scope="module")
def sandbox_gateway(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gateway = GatewayProcess(tmp_path_factory.mktemp("schemathesis"), pki, "builtin:sandbox").start()
    yield gateway
    gateway.stop()


class _TppAdapter(requests.adapters.HTTPAdapter):  # type: ignore[misc]
    """Presents the QWAC and trusts the test QTSP exactly as the aiohttp clients do."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **{**kwargs, "ssl_context": self.context})


@pytest.fixture(scope="module")
def tpp_session(pki: TestPki, tpp: Pem) -> Iterator[Any]:
    """A requests session with the TPP's client certificate (``cert=``) over the test PKI's context."""
    session = requests.Session()
    session.cert = (str(tpp.cert), str(tpp.key))
    session.mount("https://", _TppAdapter(pki.client_context(tpp)))
    yield session
    session.close()


@pytest.fixture(scope="module")
def operations(sandbox_gateway: GatewayProcess) -> list[Any]:
    """The chosen operations of the BG spec, aimed at the gateway.

    (Not ``schemathesis.pytest.from_fixture``: with pytest 9 its parametrize fails on
    ``Function._nodeid``; hypothesis drives each operation's strategy directly instead.)
    """
    schema = schemathesis.openapi.from_path(str(SPEC))
    schema.config.update(base_url=sandbox_gateway.url)
    return [result.ok() for result in schema.include(path_regex=OPERATIONS).get_all_operations()]


def test_gateway_never_answers_5xx(operations: list[Any], tpp_session: Any) -> None:
    """Generated Berlin Group requests: any 4xx is fine, a 5xx from the gateway is not."""
    assert len(operations) >= 4, [op.label for op in operations]
    started = time.monotonic()
    calls: list[str] = []
    for operation in operations:
        if time.monotonic() - started > BUDGET_S:
            break

        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            if time.monotonic() - started > BUDGET_S:
                return
            assert uuid.UUID(case.headers["X-Request-ID"])  # set by the map_headers hook
            response = case.call(session=tpp_session, timeout=10)
            calls.append(f"{case.method} {case.formatted_path} -> {response.status_code}")
            case.validate_response(response, checks=[not_a_server_error])

        check()
    print("\n".join(calls))
    assert calls
