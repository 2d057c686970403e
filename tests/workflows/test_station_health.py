"""The station health workflow on the time-skipping server, with the real worker and
a gateway node of scripted chargers (:mod:`tests.workflows.health_node`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from sqlalchemy import select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.persistence.database import Database
from activities.persistence.models import (
    AlertDelivery,
    AlertRule,
    FaultRule,
    Incident,
    IncidentEvent,
    Station,
)
from activities.webhooks import SIGNATURE_HEADER, verify_signature
from deploy.worker import build_worker
from tests.conftest import unique
from tests.helpers import WebhookReceiver, seed_station
from tests.workflows import history_recorder
from tests.workflows.health_node import HealthNode
from workflows.alert_delivery import alert_workflow_id
from workflows.health import (
    FactKind,
    HealthInput,
    HealthSettings,
    HealthView,
    StationFact,
    health_workflow_id,
)
from workflows.station_health import StationHealthWorkflow

FAULTED = dict(state="Faulted", evse_id=1, connector_id=1, error_code="PowerMeterFailure")


def fact(station: str, kind: FactKind, **fields: object) -> StationFact:
    values: dict[str, object] = {"state": "Available", **fields}
    return StationFact(station, kind, datetime.now(UTC), **values)  # type: ignore[arg-type]


@asynccontextmanager
async def running(
    env: WorkflowEnvironment, db: Database, node: HealthNode
) -> AsyncIterator[Harness]:
    """The worker and the node; every health workflow started is ended afterwards (a
    forgotten one would hold the shared server's clock with its timers)."""
    harness = Harness(env, unique("health-q"))
    try:
        # No gateway writes a message log here: nothing to wait for in the evidence.
        worker = build_worker(env.client, db, harness.queue, evidence_wait_s=0)
        async with worker, node.worker():
            yield harness
    finally:
        for handle in harness.started:
            with contextlib.suppress(Exception):
                await handle.terminate("test over")


@dataclass
class Harness:
    env: WorkflowEnvironment
    queue: str
    started: list[WorkflowHandle] = field(default_factory=list)

    async def start(
        self, first: StationFact, settings: HealthSettings
    ) -> WorkflowHandle[StationHealthWorkflow, None]:
        """As the gateway's outbox starts it: signal-with-start on the business key."""
        handle = await self.env.client.start_workflow(
            StationHealthWorkflow.run,
            HealthInput(first.station_id, settings),
            id=health_workflow_id(first.station_id),
            task_queue=self.queue,
            start_signal="fact",
            start_signal_args=[first],
        )
        self.started.append(handle)
        return handle


async def view(handle: WorkflowHandle) -> HealthView:
    return await handle.query(StationHealthWorkflow.health)


async def until(
    handle: WorkflowHandle, check: Callable[[HealthView], bool], timeout: float = 20.0
) -> HealthView:
    seen: HealthView | None = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                seen = await view(handle)
                if check(seen):
                    return seen
                await asyncio.sleep(0.05)
    except TimeoutError:
        described = await handle.describe()
        raise AssertionError(f"never held; last seen {seen}; workflow {described.status}") from None


async def seeded(db: Database, node: HealthNode, *, site: str | None = None) -> str:
    station = unique("HC")
    await seed_station(db, station, site_id=site)
    async with db.sessions.begin() as session:
        row = await session.get(Station, station)
        assert row is not None
        row.vendor, row.model, row.firmware_version = "Acme", "AC-22", "4.2.0"
    await node.hold(station)
    return station


async def incidents_of(db: Database, station: str) -> list[Incident]:
    async with db.sessions() as session:
        return list(
            (await session.scalars(select(Incident).where(Incident.station_id == station))).all()
        )


async def incidents_until(
    db: Database, station: str, check: Callable[[list[Incident]], bool]
) -> list[Incident]:
    """The station's incidents once ``check`` holds (written by activities meanwhile)."""
    async with asyncio.timeout(20):
        while True:
            found = await incidents_of(db, station)
            if check(found):
                return found
            await asyncio.sleep(0.05)


async def test_a_station_that_stops_heartbeating_goes_offline_at_the_configured_time(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = HealthNode(sqlite_db, time_skipping.client)
    station = await seeded(sqlite_db, node)
    settings = HealthSettings(offline_after_s=600, offline_incident_after_s=1800)
    async with running(time_skipping, sqlite_db, node) as harness:
        handle = await harness.start(fact(station, FactKind.LIVENESS, state="online"), settings)
        assert (await until(handle, lambda v: v.liveness == "online")).health == "healthy"
        await handle.signal(
            StationHealthWorkflow.fact,
            fact(station, FactKind.LIVENESS, state="silent", cause="no message for 660 s"),
        )
        seen = await until(handle, lambda v: v.liveness == "silent")
        assert seen.health == "degraded"
        # The communication playbook asks for a heartbeat at once.
        await until(handle, lambda v: node.commands(station)[:1] == ["trigger-message"])
        assert node.sent[0].arguments["message"] == "Heartbeat"
        await time_skipping.sleep(timedelta(seconds=590))
        assert (await view(handle)).health != "offline"
        await time_skipping.sleep(timedelta(seconds=20))
        seen = await until(handle, lambda v: v.health == "offline")
        async with sqlite_db.sessions() as session:
            row = await session.get(Station, station)
            assert row is not None and row.health == "offline"
            assert "no message for 660 s" in (row.health_reason or "")
        assert not await incidents_of(sqlite_db, station)
        await time_skipping.sleep(timedelta(seconds=1800))
        await until(handle, lambda v: v.facts_seen == 2 and bool(v.last_action))
        found = await incidents_until(sqlite_db, station, bool)
        (incident,) = [i for i in found if i.key == "offline"] or found
        assert incident.title == "Station offline" and incident.state == "open"
        # Back: healthy again, and the offline incident is resolved by the station itself.
        await handle.signal(
            StationHealthWorkflow.fact, fact(station, FactKind.LIVENESS, state="online")
        )
        seen = await until(handle, lambda v: v.health == "healthy")
        assert not seen.faults
        await incidents_until(sqlite_db, station, lambda f: f[0].state == "resolved")
        await history_recorder.keep(handle)


async def test_a_faulted_connector_walks_the_playbook_in_order_and_escalates(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = HealthNode(sqlite_db, time_skipping.client)
    station = await seeded(sqlite_db, node)
    async with running(time_skipping, sqlite_db, node) as harness:
        handle = await harness.start(fact(station, FactKind.STATUS, **FAULTED), HealthSettings())
        seen = await until(handle, lambda v: bool(v.faults))
        (fault,) = seen.faults
        assert (fault.fault_class, fault.severity, fault.title) == (
            "hardware",
            "major",
            "Power meter failure",
        )
        assert seen.health == "faulted"
        await time_skipping.sleep(timedelta(seconds=120 + 600 + 900 + 10))
        await until(handle, lambda v: v.faults[0].incident_id is not None)
        assert node.commands(station) == [
            "trigger-message",
            "reset:soft",
            "reset:hard",
            "change-availability",
        ]
        at = [s.at for s in node.sent]
        # Each step waits its playbook time for the fault to clear before the next.
        assert [round((b - a).total_seconds()) for a, b in pairwise(at)] == [
            120,
            600,
            900,
        ]
        assert node.sent[3].arguments == {"operative": False, "evse_id": 1, "connector_id": 1}
        (incident,) = await incidents_of(sqlite_db, station)
        assert incident.state == "open" and incident.severity == "major"
        assert incident.code == "PowerMeterFailure" and incident.fault_class == "hardware"
        evidence = incident.evidence
        assert evidence["firmware_version"] == "4.2.0" and evidence["model"] == "AC-22"
        assert "last_successful_session" in evidence and "recent_messages" in evidence
        assert any("hard reset" in line for line in evidence["tried"])
        # The fault clears later: the playbook has nothing left, the incident resolves.
        await handle.signal(
            StationHealthWorkflow.fact, fact(station, FactKind.STATUS, evse_id=1, connector_id=1)
        )
        await until(handle, lambda v: not v.faults and v.health == "healthy")
        await incidents_until(sqlite_db, station, lambda f: f[0].state == "resolved")
        async with sqlite_db.sessions() as session:
            lines = (
                await session.scalars(
                    select(IncidentEvent.kind).where(IncidentEvent.incident_id == incident.id)
                )
            ).all()
        assert lines[0] == "opened" and lines[-1] == "resolved"
        await history_recorder.keep(handle)


async def test_the_playbook_stops_as_soon_as_the_fault_clears(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = HealthNode(sqlite_db, time_skipping.client)
    station = await seeded(sqlite_db, node)
    node.cures[station] = "reset:soft"
    async with running(time_skipping, sqlite_db, node) as harness:
        handle = await harness.start(fact(station, FactKind.STATUS, **FAULTED), HealthSettings())
        await time_skipping.sleep(timedelta(seconds=130))
        await until(handle, lambda v: "reset:soft" in node.commands(station) and not v.faults)
        # The boot the reset causes is the reset's, not a reboot loop's.
        await handle.signal(StationHealthWorkflow.fact, fact(station, FactKind.BOOT, state="boot"))
        await until(handle, lambda v: v.last_action == "booted after the reset")
        await time_skipping.sleep(timedelta(hours=3))
        seen = await view(handle)
        assert seen.health == "healthy" and seen.resets_today == 1
        assert node.commands(station) == ["trigger-message", "reset:soft"]
        assert not await incidents_of(sqlite_db, station)
        await history_recorder.keep(handle)


async def test_a_station_is_never_reset_in_a_loop(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = HealthNode(sqlite_db, time_skipping.client)
    station = await seeded(sqlite_db, node)
    settings = HealthSettings(max_resets_per_day=2, flap_limit=100)
    async with running(time_skipping, sqlite_db, node) as harness:
        handle = await harness.start(fact(station, FactKind.STATUS, **FAULTED), settings)
        for _ in range(4):
            # The fault survives a soft reset, clears by itself, and comes back.
            await until(handle, lambda v: bool(v.faults))
            await time_skipping.sleep(timedelta(seconds=130))
            await until(handle, lambda v: bool(v.faults) and v.faults[0].next_step == "hard_reset")
            await handle.signal(
                StationHealthWorkflow.fact,
                fact(station, FactKind.STATUS, evse_id=1, connector_id=1),
            )
            await until(handle, lambda v: not v.faults)
            await handle.signal(
                StationHealthWorkflow.fact, fact(station, FactKind.STATUS, **FAULTED)
            )
        await time_skipping.sleep(timedelta(seconds=130))
        seen = await until(handle, lambda v: bool(v.faults) and len(v.faults[0].tried) >= 2)
        resets = [c for c in node.commands(station) if c.startswith("reset")]
        assert len(resets) == 2
        assert "reset skipped" in seen.faults[0].tried[1]
        # A day later the budget is back.
        await time_skipping.sleep(timedelta(days=1))
        await handle.signal(
            StationHealthWorkflow.fact, fact(station, FactKind.STATUS, evse_id=1, connector_id=1)
        )
        await handle.signal(StationHealthWorkflow.fact, fact(station, FactKind.STATUS, **FAULTED))
        await time_skipping.sleep(timedelta(seconds=130))
        await until(handle, lambda v: v.resets_today == 1)
        await history_recorder.keep(handle)


async def test_a_flapping_fault_opens_one_incident_and_alerts_once(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = HealthNode(sqlite_db, time_skipping.client)
    site = unique("site")
    station = await seeded(sqlite_db, node, site=site)
    secret = uuid.uuid4().hex
    with WebhookReceiver() as receiver:
        async with sqlite_db.sessions.begin() as session:
            session.add(
                AlertRule(
                    id=str(uuid.uuid4()),
                    name="field team",
                    channel="webhook",
                    target=receiver.url + "/alerts",
                    secret=secret,
                    min_severity="warning",
                    site_id=site,
                    repeat_after_s=3600,
                    enabled=True,
                )
            )
        async with running(time_skipping, sqlite_db, node) as harness:
            settings = HealthSettings(flap_limit=3, flap_window_s=3600)
            handle = await harness.start(fact(station, FactKind.STATUS, **FAULTED), settings)
            for _ in range(3):
                await until(handle, lambda v: bool(v.faults))
                await handle.signal(
                    StationHealthWorkflow.fact,
                    fact(station, FactKind.STATUS, evse_id=1, connector_id=1),
                )
                await until(handle, lambda v: not v.faults)
                await time_skipping.sleep(timedelta(seconds=60))
                await handle.signal(
                    StationHealthWorkflow.fact, fact(station, FactKind.STATUS, **FAULTED)
                )
            seen = await until(handle, lambda v: bool(v.faults) and v.faults[0].flapping)
            assert seen.faults[0].next_step is not None and seen.faults[0].due_at is None
            sent_before = len(node.sent)
            await time_skipping.sleep(timedelta(hours=2))
            assert len(node.sent) == sent_before, "no remediation while flapping"
            (call,) = await receiver.wait_for(1)
            found = await incidents_of(sqlite_db, station)
            assert len(found) == 1 and found[0].state == "open"
            body = json.loads(call.body)
            assert body["event"] == "opened" and body["incident"]["id"] == found[0].id
            assert verify_signature(secret, call.headers[SIGNATURE_HEADER], call.body)
            await asyncio.sleep(0.5)
            assert len(receiver.calls) == 1
            async with sqlite_db.sessions() as session:
                deliveries = (
                    await session.scalars(
                        select(AlertDelivery).where(AlertDelivery.station_id == station)
                    )
                ).all()
            assert [d.status for d in deliveries] == ["delivered"]
            await history_recorder.keep(handle)
            await history_recorder.keep(
                time_skipping.client.get_workflow_handle(alert_workflow_id(deliveries[0].id))
            )


async def test_a_reboot_loop_opens_an_incident_without_resets(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = HealthNode(sqlite_db, time_skipping.client)
    station = await seeded(sqlite_db, node)
    async with running(time_skipping, sqlite_db, node) as harness:
        handle = await harness.start(fact(station, FactKind.BOOT, state="boot"), HealthSettings())
        for _ in range(2):
            await time_skipping.sleep(timedelta(minutes=5))
            await handle.signal(
                StationHealthWorkflow.fact, fact(station, FactKind.BOOT, state="boot")
            )
        found = await incidents_until(sqlite_db, station, bool)
        assert found[0].title == "Station keeps rebooting" and found[0].severity == "critical"
        assert node.commands(station) == []
        # A one-off: let go once escalated, so the station is not "faulted" for ever.
        await until(handle, lambda v: not v.faults)
        await history_recorder.keep(handle)


async def test_operator_rules_win_over_the_built_in_table(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = HealthNode(sqlite_db, time_skipping.client)
    station = await seeded(sqlite_db, node)
    async with sqlite_db.sessions.begin() as session:
        session.add(
            FaultRule(
                id=str(uuid.uuid4()),
                name=unique("acme-e42"),
                vendor="Acme",
                vendor_error_code="E42*",
                fault_class="grid",
                severity="critical",
                playbook="escalate",
                title="Acme supply relay",
                priority=10,
            )
        )
    async with running(time_skipping, sqlite_db, node) as harness:
        faulted = {**FAULTED, "error_code": "OtherError", "vendor_error_code": "E42-7"}
        handle = await harness.start(fact(station, FactKind.STATUS, **faulted), HealthSettings())
        seen = await until(handle, lambda v: bool(v.faults) and v.faults[0].incident_id is not None)
        assert (seen.faults[0].fault_class, seen.faults[0].title) == ("grid", "Acme supply relay")
        assert node.commands(station) == []
        await history_recorder.keep(handle)


async def test_state_is_carried_across_continue_as_new(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = HealthNode(sqlite_db, time_skipping.client)
    station = await seeded(sqlite_db, node)
    settings = HealthSettings(history_limit=40, max_resets_per_day=5)
    async with running(time_skipping, sqlite_db, node) as harness:
        handle = await harness.start(fact(station, FactKind.STATUS, **FAULTED), settings)
        await time_skipping.sleep(timedelta(seconds=130))
        await until(handle, lambda v: v.resets_today == 1)
        first_run = (await handle.describe()).run_id
        for k in range(30):
            # Repeats of the same fault and other connectors' statuses: harmless facts.
            other = replace(fact(station, FactKind.STATUS), evse_id=2, connector_id=2)
            await handle.signal(
                StationHealthWorkflow.fact,
                other if k % 2 else fact(station, FactKind.STATUS, **FAULTED),
            )
        seen = await until(handle, lambda v: v.facts_seen >= 31)
        assert (await handle.describe()).run_id != first_run
        assert seen.resets_today == 1 and seen.faults[0].tried[:2] == [
            "asked for its status: Accepted",
            "soft reset: Accepted",
        ]


async def test_a_2x_station_gets_the_monitors_health_needs_once_per_firmware(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = HealthNode(sqlite_db, time_skipping.client)
    station = await seeded(sqlite_db, node)

    def boot(version: str, ocpp: str = "2.0.1") -> StationFact:
        return fact(
            station, FactKind.BOOT, state="accepted", firmware_version=version, ocpp_version=ocpp
        )

    async with running(time_skipping, sqlite_db, node) as harness:
        handle = await harness.start(boot("4.2.0"), HealthSettings(boot_limit=10))
        await until(handle, lambda v: v.last_action.startswith("monitors set"))
        assert node.commands(station) == ["set-variable-monitoring"]
        keys = [m["key"] for m in node.sent[0].arguments["monitors"]]
        assert "EVSE.Problem" in keys and "TemperatureSensor.Temperature" in keys
        await time_skipping.sleep(timedelta(minutes=20))
        await handle.signal(StationHealthWorkflow.fact, boot("4.2.0"))
        await until(handle, lambda v: v.facts_seen == 2 and "monitors" not in v.last_action)
        assert node.commands(station) == ["set-variable-monitoring"]
        await time_skipping.sleep(timedelta(minutes=20))
        await handle.signal(StationHealthWorkflow.fact, boot("4.3.0"))
        await until(handle, lambda v: len(node.commands(station)) == 2)
        assert node.commands(station) == ["set-variable-monitoring"] * 2
        await history_recorder.keep(handle)
