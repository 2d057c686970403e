"""The site workflow on the time-skipping server: the 15-minute re-plan, and a run that
continues as new carrying its vehicles (real activities, real database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.persistence.database import Database
from activities.persistence.models import Site, SiteCharging
from activities.persistence.repositories import registry
from deploy.worker import build_worker
from tests.conftest import unique
from tests.workflows import history_recorder
from workflows.commands import CommandReply, CommandRequest, gateway_task_queue
from workflows.site_charging import SiteChargingWorkflow, SiteState, site_workflow_id
from workflows.smart_charging import PresentVehicle, SiteSessionEvent


async def test_replans_every_15_minutes_and_continues_as_new_with_its_vehicles(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """No event after the first plans: a new plan 15 minutes later anyway. After three
    plans the run continues as new, and the new run still knows the vehicle present."""
    site_id = await _smart_site(sqlite_db, ["TS-1"])
    queue = unique("site-q")
    client = time_skipping.client
    async with build_worker(client, sqlite_db, queue):
        handle = await client.start_workflow(
            SiteChargingWorkflow.run,
            SiteState(site_id, plans_per_run=3),
            id=site_workflow_id(site_id),
            task_queue=queue,
        )
        arrived = SiteSessionEvent(site_id, "TS-1", 1, "tx-1", datetime.now(UTC))
        await handle.signal(SiteChargingWorkflow.vehicle_arrived, arrived)
        first_run = (await handle.describe()).run_id
        await time_skipping.sleep(timedelta(minutes=1))
        settled = await handle.query(SiteChargingWorkflow.plans)
        assert 1 <= settled <= 2  # the start and the arrival (one plan if they coincide)
        # Nothing happens for 15 minutes: the site is planned again anyway.
        await time_skipping.sleep(timedelta(minutes=15))
        current = client.get_workflow_handle(site_workflow_id(site_id))
        assert await current.query(SiteChargingWorkflow.plans) == settled + 1
        # Another quarter hour: past three plans the run continued as new.
        await time_skipping.sleep(timedelta(minutes=15))
        described = await current.describe()
        assert described.run_id != first_run, "the run continued as new"
        assert described.status == WorkflowExecutionStatus.RUNNING
        vehicles = await current.query(SiteChargingWorkflow.vehicles)
        assert [v.key for v in vehicles] == ["TS-1#1"]
        async with sqlite_db.sessions() as session:
            row = await session.get(SiteCharging, site_id)
            assert row is not None and row.last_plan is not None
            assert set(row.last_plan["power_kw"]) == {"TS-1#1"}
        await current.signal(SiteChargingWorkflow.switch_off)
        await current.result()


class _Node:
    """A gateway node as the site workflow reaches it: a worker on the node's task
    queue whose ``station_command`` activity answers Accepted and keeps the requests."""

    def __init__(self) -> None:
        self.node_id = unique("node")
        self.requests: list[CommandRequest] = []

    @activity.defn(name="station_command")
    async def station_command(self, request: CommandRequest) -> CommandReply:
        self.requests.append(request)
        return CommandReply(
            request.station_id,
            request.command,
            "2.0.1",
            request.command,
            "Accepted",
            {},
            {},
            self.node_id,
            1.0,
        )

    def worker(self, client: Client) -> Worker:
        """The node's command worker."""
        return Worker(
            client, task_queue=gateway_task_queue(self.node_id), activities=[self.station_command]
        )

    def commands(self, name: str) -> list[CommandRequest]:
        return [r for r in self.requests if r.command == name]


async def _configure(db: Database, site_id: str, stations: list[str]) -> None:
    """The site and its smart-charging configuration (22 kW, a flat price)."""
    async with db.sessions.begin() as session:
        session.add(Site(id=site_id, name="x", price_per_kwh=Decimal("0.2"), currency="EUR"))
        await session.flush()
        session.add(
            SiteCharging(
                site_id=site_id,
                config={
                    "connection_kw": 22,
                    "chargers": [{"station_id": s, "evse_id": 1} for s in stations],
                    "prices": [{"start_hour": 0, "end_hour": 24, "price_per_kwh": 0.2}],
                },
                enabled=True,
            )
        )


async def _smart_site(db: Database, stations: list[str], node: _Node | None = None) -> str:
    """A configured site; with ``node``, its stations registered to that node."""
    site_id = unique("ts-site")
    await _configure(db, site_id, stations)
    if node is not None:
        now = datetime.now(UTC)
        async with db.sessions.begin() as session:
            await registry.register(
                session,
                [
                    registry.Registration(s, node.node_id, unique("c"), "2.0.1", None, now)
                    for s in stations
                ],
            )
    return site_id


async def test_the_next_cars_start_arriving_before_the_last_ones_stop_keeps_the_next_car(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """Car B's start reaches the site before car A's stop on the same EVSE: A's stop
    must not remove B, nor clear B's profile on that EVSE."""
    station, node = unique("TS"), _Node()
    site_id = await _smart_site(sqlite_db, [station], node)
    queue, client = unique("site-q"), time_skipping.client
    async with (
        build_worker(client, sqlite_db, queue),
        node.worker(client),
    ):
        handle = await client.start_workflow(
            SiteChargingWorkflow.run,
            SiteState(site_id),
            id=site_workflow_id(site_id),
            task_queue=queue,
        )
        now = datetime.now(UTC)
        first = SiteSessionEvent(site_id, station, 1, "tx-A", now)
        second = SiteSessionEvent(site_id, station, 1, "tx-B", now + timedelta(minutes=1))
        await handle.signal(SiteChargingWorkflow.vehicle_arrived, first)
        await time_skipping.sleep(timedelta(minutes=1))
        await handle.signal(SiteChargingWorkflow.vehicle_arrived, second)
        await handle.signal(SiteChargingWorkflow.vehicle_left, first)  # late
        await time_skipping.sleep(timedelta(minutes=1))
        vehicles = await handle.query(SiteChargingWorkflow.vehicles)
        assert [(v.key, v.transaction_id) for v in vehicles] == [(f"{station}#1", "tx-B")]
        assert node.commands("clear-charging-profile") == []
        profiles = [
            r.arguments["profile"]
            for r in node.commands("set-charging-profile")
            if r.arguments["profile"]["purpose"] == "TxProfile"
        ]
        assert profiles and profiles[-1]["transaction_id"] == "tx-B"
        # B's own stop does remove it, and clears its EVSE.
        await handle.signal(SiteChargingWorkflow.vehicle_left, second)
        await time_skipping.sleep(timedelta(minutes=1))
        assert await handle.query(SiteChargingWorkflow.vehicles) == []
        assert len(node.commands("clear-charging-profile")) == 1
        await handle.signal(SiteChargingWorkflow.switch_off)
        await handle.result()
        await history_recorder.keep(handle)


async def test_a_failed_plan_is_tried_again_and_smart_charging_goes_on(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """Planning fails (the site's configuration is missing): the workflow keeps running
    and plans as soon as the configuration is back."""
    site_id = unique("ts-site")  # no configuration stored yet
    queue, client = unique("site-q"), time_skipping.client
    async with build_worker(client, sqlite_db, queue):
        handle = await client.start_workflow(
            SiteChargingWorkflow.run,
            SiteState(site_id),
            id=site_workflow_id(site_id),
            task_queue=queue,
        )
        await time_skipping.sleep(timedelta(minutes=1))
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        assert await handle.query(SiteChargingWorkflow.plans) == 0
        await _configure(sqlite_db, site_id, ["TS-9"])
        await handle.signal(SiteChargingWorkflow.config_changed)
        await time_skipping.sleep(timedelta(minutes=1))
        assert await handle.query(SiteChargingWorkflow.plans) == 1
        await handle.signal(SiteChargingWorkflow.switch_off)
        await handle.result()
        await history_recorder.keep(handle)


async def test_cars_that_left_before_a_continue_as_new_are_still_cleared(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """A car leaves while the last plan of a run is being made: the run continues as
    new right after it, and the new run clears the car's EVSE."""
    station, node = unique("TS"), _Node()
    site_id = await _smart_site(sqlite_db, [station], node)
    queue, client = unique("site-q"), time_skipping.client
    gone = PresentVehicle(f"{station}#1", station, 1, "tx-gone", datetime.now(UTC))
    async with (
        build_worker(client, sqlite_db, queue),
        node.worker(client),
    ):
        handle = await client.start_workflow(
            SiteChargingWorkflow.run,
            SiteState(site_id, left=[gone]),  # as a run that continued as new passes it
            id=site_workflow_id(site_id),
            task_queue=queue,
        )
        await time_skipping.sleep(timedelta(minutes=1))
        clears = node.commands("clear-charging-profile")
        assert [(c.station_id, c.arguments["evse_id"]) for c in clears] == [(station, 1)]
        await handle.signal(SiteChargingWorkflow.switch_off)
        await handle.result()
        await history_recorder.keep(handle)
