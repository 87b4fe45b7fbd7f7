"""Metrics and the request log line are written after the answer has left, never before.

They are the last step of the pipeline but not on the TPP's clock: the pipeline hands them to
the event loop, which runs them once the task step that writes the answer is over.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from structlog.testing import capture_logs
from support.cores import RecordingCore
from support.gateway_fixtures import StartGateway
from support.pki import Pem

from gateway.app import PIPELINE
from gateway.exchange import Exchange
from gateway.http_connection import TppConnection
from gateway.recording import Result


async def test_the_answer_is_written_before_it_is_recorded(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = await start(core.url)
    events: list[str] = []
    pipeline = gateway.runners[0].app[PIPELINE]  # type: ignore[attr-defined]
    record = pipeline.recorder.record
    write = TppConnection._write

    def recording(ex: Exchange, result: Result, ended: float) -> None:
        events.append(f"record {result.status}")
        assert ended >= ex.started, "the gateway's time ends when the answer was ready"
        record(ex, result, ended)

    def writing(connection: TppConnection, request: Any, reply: Any) -> None:
        events.append(f"write {reply.status}")
        write(connection, request, reply)

    monkeypatch.setattr(pipeline.recorder, "record", recording)
    monkeypatch.setattr(TppConnection, "_write", writing)
    client = client_for(tpp)
    for headers in ({"X-Request-ID": str(uuid.uuid4())}, {}):  # forwarded, then refused
        async with client.get(f"{gateway.url}/v1/accounts", headers=headers) as r:
            await r.read()
    assert events == ["write 200", "record 200", "write 400", "record 400"]


async def test_a_failure_while_recording_is_logged_and_the_answer_stands(
    start: StartGateway, core: RecordingCore, client_for: Any, tpp: Pem, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = await start(core.url)
    pipeline = gateway.runners[0].app[PIPELINE]  # type: ignore[attr-defined]

    def broken(ex: Exchange, result: Result, ended: float) -> None:
        raise RuntimeError("a bug in the recording")

    monkeypatch.setattr(pipeline.recorder, "record", broken)
    request_id = str(uuid.uuid4())
    with capture_logs() as logs:
        async with client_for(tpp).get(
            f"{gateway.url}/v1/accounts", headers={"X-Request-ID": request_id}
        ) as r:
            assert r.status == 200
            await r.read()
        await asyncio.sleep(0.05)  # the recording runs after the answer
    failed = [e for e in logs if e["event"] == "recording_failed"]
    assert failed and failed[0]["request_id"] == request_id and failed[0]["log_level"] == "error"
    async with client_for(tpp).get(
        f"{gateway.url}/v1/accounts", headers={"X-Request-ID": str(uuid.uuid4())}
    ) as r:
        assert r.status == 200, "the connection and the gateway carry on"
