"""A utility's own OpenADR 3 tooling against the running stack: the PyPI package
``openadr3-client``, a client nobody here wrote, in a process of its own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets
from websockets.typing import Subprotocol

from activities.webhooks import SIGNATURE_HEADER, verify_signature
from deploy.simulator import ObedientCharger, SimulationStats, id_tag_for
from deploy.stack import Stack
from tests.deploy.conftest import api_client
from tests.deploy.live_stations import booted_station, endpoint, next_profile, tx_started
from tests.deploy.live_utility import run_curtailment, run_utility
from tests.helpers import WebhookReceiver, seed_station, utility_bearer
from workflows.demand_response import DemandResponseWorkflow


def first_limit(request: dict[str, Any]) -> float:
    """The first period's limit of a 2.x SetChargingProfile."""
    schedule = request["chargingProfile"]["chargingSchedule"][0]
    return float(schedule["chargingSchedulePeriod"][0]["limit"])


async def test_openadr3_client_runs_program_event_change_cancel_and_report(stack: Stack) -> None:
    """The utility's tooling runs its whole cycle; the webhooks it subscribed are
    called, signed, for every change and for the report."""
    with WebhookReceiver() as receiver:
        async with api_client(stack) as http:
            site = await http.post(
                "/sites",
                json={"id": "dr-depot", "name": "x", "price_per_kwh": "0.2", "currency": "EUR"},
            )
            assert site.status_code == 201
            utility = await http.post("/utilities", json={"name": "Grid", "sites": ["dr-depot"]})
            assert utility.status_code == 201, utility.text
            created = utility.json()
            bearer, _ = await utility_bearer(http, created)
            subscribed = await http.post(
                "/openadr3/subscriptions",
                headers=bearer,
                json={
                    "clientName": "grid-ops",
                    "objectOperations": [
                        {
                            "objects": ["EVENT", "REPORT"],
                            "operations": ["POST", "PUT", "DELETE"],
                            "callbackUrl": receiver.url + "/openadr",
                            "bearerToken": "grid-callback-token",
                        }
                    ],
                },
            )
            assert subscribed.status_code == 201, subscribed.text
            steps = await run_utility(
                f"http://127.0.0.1:{stack.api_port}/openadr3",
                created["client_id"],
                created["client_secret"],
                "dr-depot",
            )
            # Two events created, one changed, one cancelled, one report.
            calls = await receiver.wait_for(5, timeout_s=60)
            # Each call's answer is recorded just after the call: poll until all are.
            for _ in range(100):
                deliveries = await http.get(
                    f"/openadr3/subscriptions/{subscribed.json()['id']}/deliveries",
                    headers=bearer,
                )
                if {c["status"] for c in deliveries.json()} == {"delivered"}:
                    break
                await asyncio.sleep(0.1)
    assert steps["subscriptions"] == ["grid-ops"]
    assert steps["vens"] == ["dr-depot"] and steps["resources"] == ["dr-depot"]
    assert steps["event"]["priority"] == 1
    assert steps["events"] == [steps["event"]["id"]]
    assert steps["changed"] == {"id": steps["event"]["id"], "priority": 0}
    assert steps["cancelled"] == steps["event"]["id"]
    assert steps["left"] == []
    # The short event's report, read back: the site (no chargers yet) drew nothing
    # against its 5 kW, and would have drawn nothing without the event.
    [report] = steps["report"]
    [resource] = report["resources"]
    assert resource["name"] == "dr-depot"
    [interval] = resource["payloads"]
    assert interval == {
        "USAGE": [0.0],
        "DEMAND": [0.0],
        "IMPORT_CAPACITY_LIMIT": [5.0],
        "BASELINE": [0.0],
        "DELTA_USAGE": [0.0],
        "DATA_QUALITY": ["OK"],
    }
    # Every webhook call signed with the utility's key and carrying its token.
    assert all(
        verify_signature(created["webhook_secret"], c.headers[SIGNATURE_HEADER], c.body)
        and c.headers["Authorization"] == "Bearer grid-callback-token"
        for c in calls
    )
    seen = sorted((c.json()["objectType"], c.json()["operation"]) for c in calls)
    assert seen == [
        ("EVENT", "DELETE"),
        ("EVENT", "POST"),
        ("EVENT", "POST"),
        ("EVENT", "PUT"),
        ("REPORT", "POST"),
    ]
    assert [c["status"] for c in deliveries.json()] == ["delivered"] * 5


async def test_a_utilitys_limit_reaches_the_chargers_at_once_and_is_lifted_on_cancel(
    stack: Stack,
) -> None:
    """A charger on a smart-charged site draws 11 kW; a utility caps the site at 5 kW
    from now: the charger's next profile keeps to it, without waiting for the site's
    15-minute tick; the event cancelled, the charger gets its 11 kW back."""
    async with api_client(stack) as http:
        await http.post(
            "/sites", json={"id": "dr-live", "name": "x", "price_per_kwh": "0.2", "currency": "EUR"}
        )
        station = await booted_station(
            stack, "DRL-1", "ocpp2.0.1", site_id="dr-live", tokens={"TAG-DR": "accepted"}
        )
        try:
            config = {
                "connection_kw": 22,
                "chargers": [{"station_id": "DRL-1", "max_kw": 11}],
                "prices": [{"start_hour": 0, "end_hour": 24, "price_per_kwh": 0.2}],
            }
            assert (await http.put("/sites/dr-live/smart-charging", json=config)).status_code == 200
            await station.call("TransactionEvent", tx_started("drl-1", "TAG-DR"))
            assert first_limit(await next_profile(station, "TxProfile")) == pytest.approx(11000)
            made = (await http.post("/utilities", json={"name": "G", "sites": ["dr-live"]})).json()
            bearer, _ = await utility_bearer(http, made)
            program = await http.post(
                "/openadr3/programs", headers=bearer, json={"programName": "cap"}
            )
            now = datetime.now(UTC).replace(microsecond=0)
            event = await http.post(
                "/openadr3/events",
                headers=bearer,
                json={
                    "programID": program.json()["id"],
                    "intervalPeriod": {"start": now.isoformat(), "duration": "PT1H"},
                    "intervals": [
                        {"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [5]}]}
                    ],
                },
            )
            assert event.status_code == 201, event.text
            assert first_limit(await next_profile(station, "TxProfile", timeout=20)) <= 5000
            # Its workflow follows it on durable timers (the site plans again at its end).
            assert stack.worker is not None
            followed = stack.worker.client.get_workflow_handle(f"dr:{event.json()['id']}")
            progress = await followed.query(DemandResponseWorkflow.progress)
            assert progress.phase == "active" and progress.sites == ["dr-live"]
            cancelled = await http.delete(f"/openadr3/events/{event.json()['id']}", headers=bearer)
            assert cancelled.status_code == 200
            assert await followed.result() == "cancelled"
            assert first_limit(
                await next_profile(station, "TxProfile", timeout=20)
            ) == pytest.approx(11000)
            assert station.failures == []
        finally:
            await station.close()


async def test_a_utilitys_curtailment_is_obeyed_lifted_and_reported(stack: Stack) -> None:
    """The utility's own tooling (openadr3-client) caps a site where three cars charge
    at 11 kW, announced half a minute ahead, for two one-minute intervals (15 kW,
    then 9 kW). Before the first interval begins every charger holds a profile that
    keeps the site within both; after the end the limits are lifted; the report's
    demand, from the chargers' own meter values, keeps to each limit, and its
    baseline (the site's plan without the event) shows what was curtailed."""
    site, ids = "dr-e2e", ["E2E-1", "E2E-2", "E2E-3"]
    for station in ids:
        await seed_station(
            stack.db, station, site_id=site, tokens={id_tag_for(station): "accepted"}
        )
    async with api_client(stack) as http:
        config = {
            "connection_kw": 33,
            "chargers": [{"station_id": s, "max_kw": 11} for s in ids],
            "prices": [{"start_hour": 0, "end_hour": 24, "price_per_kwh": 0.2}],
            "slot_minutes": 1,
            "horizon_hours": 1,
            "default_energy_kwh": 60,
        }
        assert (await http.put(f"/sites/{site}/smart-charging", json=config)).status_code == 200
        made = (await http.post("/utilities", json={"name": "Grid", "sites": [site]})).json()
    chargers, tasks = [], []
    try:
        for station in ids:
            ws = await websockets.connect(
                f"{endpoint(stack)}/{station}", subprotocols=[Subprotocol("ocpp1.6")]
            )
            cp = ObedientCharger(station, ws, SimulationStats())
            tasks.append(asyncio.create_task(cp.start()))
            await cp.boot()
            tx = await cp.start_transaction(id_tag_for(station))
            await cp.status("Charging")
            tasks.append(asyncio.create_task(cp.follow(tx, 2.0)))
            chargers.append(cp)
        now = datetime.now(UTC)
        start = (now + timedelta(seconds=90)).replace(second=0, microsecond=0)
        end = start + timedelta(minutes=2)
        utility = asyncio.create_task(
            run_curtailment(
                f"http://127.0.0.1:{stack.api_port}/openadr3",
                made["client_id"],
                made["client_secret"],
                site,
                start.isoformat(),
                60,
                [15.0, 9.0],
            )
        )
        await asyncio.sleep((start - datetime.now(UTC)).total_seconds() - 2)
        # Two seconds before the start: what every charger's profile will allow.
        for at, cap in ((start + timedelta(seconds=1), 15.0), (start + timedelta(seconds=61), 9.0)):
            assert sum(cp.limit_kw(at) for cp in chargers) <= cap + 1e-6, (at, cap)
        await asyncio.sleep((end - datetime.now(UTC)).total_seconds() + 8)
        assert sum(cp.limit_kw(datetime.now(UTC)) for cp in chargers) > 30  # lifted
        steps = await utility
    finally:
        for task in tasks:
            task.cancel()
        for cp in chargers:
            await cp._connection.close()
    first, second = steps["report"]
    assert first["IMPORT_CAPACITY_LIMIT"] == [15.0] and second["IMPORT_CAPACITY_LIMIT"] == [9.0]
    for interval in (first, second):
        assert interval["DATA_QUALITY"] == ["OK"]
        # The chargers draw exactly their limit and send whole Wh: within about 1 Wh a
        # charger over the minute (0.06 kW each) of it, as the readings resolve.
        resolution_kw = len(chargers) * 0.001 / (1 / 60)
        assert interval["DEMAND"][0] <= interval["IMPORT_CAPACITY_LIMIT"][0] + resolution_kw, (
            interval
        )
        # Without the event the site would have drawn 33 kW: the curtailment shows.
        assert interval["BASELINE"][0] == pytest.approx(33.0, abs=0.5)
        assert interval["DELTA_USAGE"][0] > 0.3
