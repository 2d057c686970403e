"""One charger message's trace, from the gateway through the outbox and Temporal (the
SDK's tracing interceptor) to the health workflow's database write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import WorkflowEnvironment

from deploy.stack import Stack
from deploy.temporal_dev import wait_for_temporal
from tests.conftest import unique
from tests.deploy.conftest import stack_settings
from tests.deploy.live_stations import booted_station, endpoint
from tests.gateway.conformance.station import StrictStation
from tests.helpers import seed_station

EXPORTER = InMemorySpanExporter()


def _provider() -> None:
    current = trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        current = TracerProvider()
        trace.set_tracer_provider(current)
    current.add_span_processor(SimpleSpanProcessor(EXPORTER))


@pytest.fixture
async def stack(temporal_dev: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Stack]:
    _provider()
    settings = stack_settings(temporal_dev, tmp_path)
    # As `csms worker` connects: with the tracing interceptor.
    client = await wait_for_temporal(settings.temporal_address, settings.temporal_namespace)
    running = Stack(settings)
    await running.start(client)
    yield running
    await running.stop()


def _iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def _trace(root: str, station_id: str, until: str) -> set[str]:
    """Span names of the trace rooted at the station's ``root`` span, once ``until``
    is among them."""
    async with asyncio.timeout(30):
        while True:
            spans = list(EXPORTER.get_finished_spans())
            roots = [
                s
                for s in spans
                if s.name == root and (s.attributes or {}).get("csms.station_id") == station_id
            ]
            if roots:
                trace_id = roots[0].context.trace_id
                names = {s.name for s in spans if s.context.trace_id == trace_id}
                if until in names:
                    return names
            await asyncio.sleep(0.1)


async def test_a_session_is_one_trace_from_the_socket_to_its_cdr(stack: Stack) -> None:
    station_id = unique("TRACE")
    await seed_station(stack.db, station_id, tokens={"TRACE-TAG": "Accepted"})
    station = await StrictStation.connect(endpoint(stack), station_id, "ocpp1.6")
    try:
        boot = {"chargePointVendor": "Acme", "chargePointModel": "AC-22"}
        await station.call("BootNotification", boot)
        started = await station.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "TRACE-TAG", "meterStart": 0, "timestamp": _iso()},
        )
        await station.call(
            "StopTransaction",
            {"transactionId": started["transactionId"], "meterStop": 1500, "timestamp": _iso()},
        )
        names = await _trace("ocpp StartTransaction", station_id, "db write charge_detail_records")
    finally:
        await station.close()
    # The gateway's span, the outbox delivery carrying its context, the workflow it
    # started, and that workflow's settlement down to the CDR's write.
    assert {
        "outbox deliver session.started",
        "RunWorkflow:ChargingSession",
        "RunActivity:settle_session",
    } <= names, names
    assert any(n.startswith("SignalWithStartWorkflow:ChargingSession") for n in names), names


async def test_a_fault_reaches_the_health_workflow_in_its_message_trace(stack: Stack) -> None:
    station_id = unique("TRACEH")
    station = await booted_station(stack, station_id, "ocpp1.6")
    try:
        await station.call(
            "StatusNotification",
            {
                "connectorId": 1,
                "status": "Faulted",
                "errorCode": "PowerMeterFailure",
                "timestamp": _iso(),
            },
        )
        names = await _trace(
            "ocpp StatusNotification", station_id, "SignalWithStartWorkflow:StationHealth"
        )
    finally:
        await station.close()
    # The long-running workflow's own spans stay in the trace of its start (the SDK's
    # model); the fact's delivery and signal are in the message's.
    assert "outbox deliver station.fact" in names, names
