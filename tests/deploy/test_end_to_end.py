"""End to end: a real OCPP 1.6 client, the gateway, a Temporal dev server, the worker,
the database and the API, including the crash paths."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import websockets
from temporalio.testing import WorkflowEnvironment
from websockets.typing import Subprotocol

from deploy.simulator import (
    SessionPlan,
    SimulatedCharger,
    SimulationStats,
    id_tag_for,
    make_charger,
    provision,
)
from deploy.stack import Stack
from deploy.worker import build_worker
from gateway.server import Gateway
from tests.conftest import unique
from tests.deploy.conftest import API_KEY, api_client, eventually, stack_settings
from workflows.charging_session import ChargingSessionWorkflow
from workflows.domain import SessionState


@contextlib.asynccontextmanager
async def charger(port: int, station_id: str) -> AsyncIterator[SimulatedCharger]:
    """A connected, booted ocpp-library charge point."""
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/{station_id}",
        subprotocols=[Subprotocol("ocpp1.6")],
    ) as ws:
        cp = SimulatedCharger(station_id, ws, SimulationStats())
        reader = asyncio.create_task(cp.start())
        try:
            await cp.boot()
            yield cp
        finally:
            reader.cancel()


async def cdrs_of(stack: Stack, station_id: str) -> list[dict[str, Any]]:
    async with api_client(stack) as http:
        response = await http.get("/cdrs", params={"station_id": station_id})
        response.raise_for_status()
        return response.json()


async def test_session_flows_from_charger_to_cdr_in_the_api(
    stack: Stack, temporal_dev: WorkflowEnvironment
) -> None:
    station = unique("E2E")
    await provision(f"http://127.0.0.1:{stack.api_port}", API_KEY, [station], site_id="e2e-site")
    plan = SessionPlan(meter_samples=3, meter_interval_s=0, sample_energy_wh=917)
    assert stack.gateway is not None
    async with charger(stack.gateway.port, station) as cp:
        cp.register_wh = 10_000
        tx_id = await cp.charge(id_tag_for(station), plan)
    cdr = (await eventually(lambda: cdrs_of(stack, station)))[0]
    assert cdr["transaction_id"] == str(tx_id)
    assert cdr["energy_wh"] == cp.register_wh - 10_000 == 3 * 917
    # Price of the simulated site is 0.30 EUR/kWh.
    expected = (Decimal(cdr["energy_wh"]) / 1000 * Decimal("0.30")).quantize(Decimal("0.01"))
    assert Decimal(cdr["total_cost"]) == expected
    async with api_client(stack) as http:
        detail = (await http.get(f"/sessions/{cdr['session_id']}")).json()
    assert detail["status"] == "completed"
    assert detail["live"]["state"] == "completed"
    assert len(detail["samples"]) == 6  # energy + power per MeterValues
    assert detail["cdr"]["id"] == cdr["id"]
    handle = temporal_dev.client.get_workflow_handle(detail["workflow_id"])
    assert (await handle.query(ChargingSessionWorkflow.state)).state == SessionState.COMPLETED
    found = await eventually(lambda: _listed(temporal_dev, station))
    assert found == [detail["workflow_id"]]


async def _listed(env: WorkflowEnvironment, station: str) -> list[str]:
    query = f'CsmsStationId = "{station}" AND CsmsState = "completed"'
    return [wf.id async for wf in env.client.list_workflows(query)]


async def test_session_with_real_energy_and_price(stack: Stack) -> None:
    station = unique("E2E")
    await provision(f"http://127.0.0.1:{stack.api_port}", API_KEY, [station], site_id="e2e-site")
    plan = SessionPlan(
        meter_samples=4, meter_interval_s=0.05, power_w=22_000, sample_energy_wh=1_100
    )
    assert stack.gateway is not None
    async with charger(stack.gateway.port, station) as cp:
        await cp.charge(id_tag_for(station), plan)
    cdr = (await eventually(lambda: cdrs_of(stack, station)))[0]
    assert cdr["energy_wh"] == 4400.0
    assert cdr["total_cost"] == "1.32"  # 4.4 kWh x 0.30 EUR


async def test_worker_restarted_mid_session_still_yields_one_cdr(
    temporal_dev: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = stack_settings(temporal_dev, tmp_path)
    front = Stack(settings, worker=False)
    await front.start(temporal_dev.client)
    worker = build_worker(temporal_dev.client, front.db, settings.task_queue)
    worker_task = asyncio.create_task(worker.run())
    try:
        station = unique("CRASH")
        await provision(f"http://127.0.0.1:{front.api_port}", API_KEY, [station])
        assert front.gateway is not None
        async with charger(front.gateway.port, station) as cp:
            started = await cp.start_transaction(id_tag_for(station))
            workflow_id = f"session:{station}:{started}"
            handle = temporal_dev.client.get_workflow_handle(workflow_id)

            async def running() -> bool:
                with contextlib.suppress(Exception):
                    view = await handle.query(ChargingSessionWorkflow.state)
                    return view.state == SessionState.ACTIVE
                return False

            await eventually(running)
            await worker.shutdown()  # the worker dies mid-session
            await worker_task
            await cp.send_meter(started, 5_000)
            await cp.stop_transaction(started, 7_000)
            await asyncio.sleep(1.0)
            assert await cdrs_of(front, station) == [], "no worker, so no CDR yet"
            worker = build_worker(temporal_dev.client, front.db, settings.task_queue)
            worker_task = asyncio.create_task(worker.run())
            cdrs = await eventually(lambda: cdrs_of(front, station))
        assert len(cdrs) == 1
        assert cdrs[0]["energy_wh"] == 7_000.0
        await asyncio.sleep(0.5)
        assert len(await cdrs_of(front, station)) == 1
    finally:
        await worker.shutdown()
        await worker_task
        await front.stop()


async def test_gateway_restarted_mid_session_loses_nothing(
    temporal_dev: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = stack_settings(temporal_dev, tmp_path)
    stack = Stack(settings)
    await stack.start(temporal_dev.client)
    try:
        station = unique("GWR")
        await provision(f"http://127.0.0.1:{stack.api_port}", API_KEY, [station])
        assert stack.gateway is not None
        async with charger(stack.gateway.port, station) as cp:
            tx = await cp.start_transaction(id_tag_for(station))
            await cp.send_meter(tx, 2_500)
        await stack.gateway.stop()  # gateway node goes down with the session running
        replacement = Gateway(settings.gateway_config(), stack.db)
        await replacement.start()
        try:
            async with charger(replacement.port, station) as cp:
                await cp.stop_transaction(tx, 4_000)
            cdrs = await eventually(lambda: cdrs_of(stack, station))
        finally:
            await replacement.stop()
        assert [c["energy_wh"] for c in cdrs] == [4_000.0]
    finally:
        stack.gateway = None  # already stopped above
        await stack.stop()


async def test_events_wait_in_the_outbox_while_temporal_is_unreachable(
    temporal_dev: WorkflowEnvironment, tmp_path: Path
) -> None:
    cut_off = stack_settings(temporal_dev, tmp_path, temporal_address="127.0.0.1:1")
    front = Stack(cut_off, worker=False)
    await front.start(temporal_dev.client)  # the API still reaches Temporal; the gateway not
    station = unique("OUT")
    try:
        await provision(f"http://127.0.0.1:{front.api_port}", API_KEY, [station])
        assert front.gateway is not None
        async with charger(front.gateway.port, station) as cp:
            tx = await cp.start_transaction(id_tag_for(station))
            await cp.stop_transaction(tx, 1_234)  # the charger is answered at once
        relay = front.gateway.services.relay
        await asyncio.sleep(1.0)
        assert relay.delivered == 0
    finally:
        await front.stop()
    healed = Stack(
        stack_settings(
            temporal_dev, tmp_path, node_id=cut_off.node_id, task_queue=cut_off.task_queue
        )
    )
    await healed.start(temporal_dev.client)
    try:
        cdrs = await eventually(lambda: cdrs_of(healed, station))
        assert [c["energy_wh"] for c in cdrs] == [1_234.0]
    finally:
        await healed.stop()


async def test_mixed_fleet_sessions_give_identical_cdrs(stack: Stack) -> None:
    """A 1.6, a 2.0.1 and a 2.1 simulated station each charge 7.5 kWh; their CDRs read
    alike."""
    api = f"http://127.0.0.1:{stack.api_port}"
    fleet = {"1.6": unique("OLD"), "2.0.1": unique("MID"), "2.1": unique("NEW")}
    await provision(api, API_KEY, list(fleet.values()), site_id="mixed-site")
    assert stack.gateway is not None
    port = stack.gateway.port
    plan = SessionPlan(meter_samples=3, meter_interval_s=0, sample_energy_wh=2_500)
    for version, station in fleet.items():
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/{station}", subprotocols=[Subprotocol(f"ocpp{version}")]
        ) as ws:
            cp = make_charger(version, station, ws, SimulationStats())
            reader = asyncio.create_task(cp.start())
            try:
                assert ws.subprotocol == f"ocpp{version}"
                await cp.boot()
                cp.register_wh = 20_000
                await cp.charge(id_tag_for(station), plan)
            finally:
                reader.cancel()
    cdrs = {
        v: (await eventually(functools.partial(cdrs_of, stack, s)))[0] for v, s in fleet.items()
    }
    assert {v: c["ocpp_version"] for v, c in cdrs.items()} == {v: v for v in fleet}
    shapes = {v: sorted(c) for v, c in cdrs.items()}
    assert shapes["1.6"] == shapes["2.0.1"] == shapes["2.1"]
    for cdr in cdrs.values():
        assert (cdr["energy_wh"], cdr["total_cost"], cdr["currency"]) == (7500.0, "2.25", "EUR")
        assert cdr["stop_reason"] == "EVDisconnected" and cdr["notes"] == []
