"""The site workflow on the time-skipping server: the 15-minute re-plan, and a run that
continues as new carrying its vehicles (real activities, real database)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.converter import value_to_type
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.persistence.database import Database
from activities.persistence.models import Site, SiteCharging, Station, Transaction
from activities.persistence.repositories import registry, site_plans, transactions
from deploy.worker import build_worker
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction
from tests.workflows import history_recorder
from workflows.commands import CommandReply, CommandRequest, gateway_task_queue
from workflows.domain import SessionStarted
from workflows.site_charging import SiteChargingWorkflow, SiteState, site_workflow_id
from workflows.smart_charging import DeliveryReport, SiteDelivery, SiteSessionEvent


async def test_replans_every_15_minutes_and_continues_as_new_with_its_vehicles(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """No event after the first plans: a new plan 15 minutes later anyway. After three
    plans the run continues as new, and the new run still plans the vehicle present
    (from the database: nothing of it is carried over)."""
    station = unique("TS")
    site_id = await _smart_site(sqlite_db, [station])
    await _start(sqlite_db, site_id, station)
    queue = unique("site-q")
    client = time_skipping.client
    async with build_worker(client, sqlite_db, queue):
        handle = await _start_site(client, site_id, queue, plans_per_run=3)
        first_run = (await handle.describe()).run_id
        await time_skipping.sleep(timedelta(minutes=1))
        assert await handle.query(SiteChargingWorkflow.plans) == 1
        # Nothing happens for 15 minutes: the site is planned again anyway.
        await time_skipping.sleep(timedelta(minutes=15))
        current = client.get_workflow_handle(site_workflow_id(site_id))
        assert await current.query(SiteChargingWorkflow.plans) == 2
        # Another half hour: past three plans the run continued as new.
        await time_skipping.sleep(timedelta(minutes=30))
        described = await current.describe()
        assert described.run_id != first_run, "the run continued as new"
        assert described.status == WorkflowExecutionStatus.RUNNING
        assert await current.query(SiteChargingWorkflow.planned_points) == [f"{station}#1"]
        async with sqlite_db.sessions() as session:
            row = await session.get(SiteCharging, site_id)
            assert row is not None and row.last_plan is not None
            assert set(row.last_plan["power_kw"]) == {f"{station}#1"}
        await current.signal(SiteChargingWorkflow.switch_off)
        await current.result()


async def _start(
    db: Database, site_id: str, station: str, at: datetime | None = None
) -> SessionStarted:
    """An active transaction on the station's EVSE 1, as the gateway stores it."""
    return await seed_transaction(db, station, site_id=site_id, started_at=at or datetime.now(UTC))


async def _stop(db: Database, start: SessionStarted) -> None:
    """The transaction's stop, as the gateway stores it."""
    async with db.sessions.begin() as session:
        tx = await session.get(Transaction, start.transaction_pk)
        assert tx is not None
        await transactions.record_stop(
            tx, meter_stop_wh=2000, stopped_at=datetime.now(UTC), reason="Local"
        )


async def _start_site(
    client: Client, site_id: str, queue: str, plans_per_run: int = 100
) -> WorkflowHandle[Any, Any]:
    """The site's workflow, as the API starts it."""
    return await client.start_workflow(
        SiteChargingWorkflow.run,
        SiteState(site_id, plans_per_run=plans_per_run),
        id=site_workflow_id(site_id),
        task_queue=queue,
    )


class _Node:
    """A gateway node as the site workflow reaches it: a worker on the node's task
    queue whose command activities answer Accepted and keep the requests (a site
    plan's read from the database, as the gateway's ``site_commands`` reads them)."""

    def __init__(self, db: Database | None = None) -> None:
        self.node_id = unique("node")
        self.db = db
        self.requests: list[CommandRequest] = []
        self.deliveries: list[SiteDelivery] = []

    @activity.defn(name="site_commands")
    async def site_commands(self, delivery: SiteDelivery) -> DeliveryReport:
        assert self.db is not None
        self.deliveries.append(delivery)
        async with self.db.sessions() as session:
            planned = await site_plans.commands_for(
                session, delivery.site_id, delivery.plan, delivery.station_ids
            )
        sent = 0
        for requests in planned.values():
            for raw in requests:
                self.requests.append(value_to_type(CommandRequest, raw))
                sent += 1
        return DeliveryReport(sent)

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
            client,
            task_queue=gateway_task_queue(self.node_id),
            activities=[self.station_command, self.site_commands],
        )

    def commands(self, name: str) -> list[CommandRequest]:
        return [r for r in self.requests if r.command == name]


async def _configure(
    db: Database, site_id: str, stations: list[str], connection_kw: float = 22
) -> None:
    """The site and its smart-charging configuration (22 kW, a flat price)."""
    async with db.sessions.begin() as session:
        session.add(Site(id=site_id, name="x", price_per_kwh=Decimal("0.2"), currency="EUR"))
        await session.flush()
        session.add(
            SiteCharging(
                site_id=site_id,
                config={
                    "connection_kw": connection_kw,
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
    for station in stations:
        await seed_station(db, station, site_id=site_id)
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
    must not remove B, nor clear B's profile on that EVSE; B's own stop clears it."""
    station, node = unique("TS"), _Node(sqlite_db)
    site_id = await _smart_site(sqlite_db, [station], node)
    queue, client = unique("site-q"), time_skipping.client
    async with (
        build_worker(client, sqlite_db, queue),
        node.worker(client),
    ):
        handle = await _start_site(client, site_id, queue)
        now = datetime.now(UTC)
        car_a = await _start(sqlite_db, site_id, station, now)
        await handle.signal(SiteChargingWorkflow.vehicle_arrived, _event(site_id, car_a))
        await time_skipping.sleep(timedelta(minutes=1))
        car_b = await _start(sqlite_db, site_id, station, now + timedelta(minutes=1))
        await handle.signal(SiteChargingWorkflow.vehicle_arrived, _event(site_id, car_b))
        await _stop(sqlite_db, car_a)  # late
        await handle.signal(SiteChargingWorkflow.vehicle_left, _event(site_id, car_a))
        await time_skipping.sleep(timedelta(minutes=1))
        assert node.commands("clear-charging-profile") == []
        profiles = [
            r.arguments["profile"]
            for r in node.commands("set-charging-profile")
            if r.arguments["profile"]["purpose"] == "TxProfile"
        ]
        assert profiles and profiles[-1]["transaction_id"] == car_b.transaction_id
        # B's own stop does remove it, and clears its EVSE (once).
        await _stop(sqlite_db, car_b)
        await handle.signal(SiteChargingWorkflow.vehicle_left, _event(site_id, car_b))
        await time_skipping.sleep(timedelta(minutes=1))
        assert await handle.query(SiteChargingWorkflow.planned_points) == []
        await time_skipping.sleep(timedelta(minutes=16))  # another plan: no second clear
        assert len(node.commands("clear-charging-profile")) == 1
        await handle.signal(SiteChargingWorkflow.switch_off)
        await handle.result()
        await history_recorder.keep(handle)


def _event(site_id: str, start: SessionStarted) -> SiteSessionEvent:
    return SiteSessionEvent(
        site_id, start.station_id, 1, start.transaction_id, start.started_at, 1000
    )


async def test_a_failed_plan_is_tried_again_and_smart_charging_goes_on(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """Planning fails (the site's configuration is missing): the workflow keeps running
    and plans as soon as the configuration is back."""
    site_id = unique("ts-site")  # no configuration stored yet
    queue, client = unique("site-q"), time_skipping.client
    async with build_worker(client, sqlite_db, queue):
        handle = await _start_site(client, site_id, queue)
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


async def test_sessions_are_planned_and_cleared_from_the_database_without_any_signal(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """A session already under way when smart charging starts is planned, and when it
    ends without its signal reaching the site (a lost nudge), the next tick clears its
    EVSE anyway: across a continue-as-new, since nothing is carried."""
    station, node = unique("TS"), _Node(sqlite_db)
    site_id = await _smart_site(sqlite_db, [station], node)
    car = await _start(sqlite_db, site_id, station)
    queue, client = unique("site-q"), time_skipping.client
    async with (
        build_worker(client, sqlite_db, queue),
        node.worker(client),
    ):
        handle = await _start_site(client, site_id, queue, plans_per_run=1)
        await time_skipping.sleep(timedelta(minutes=1))
        assert node.commands("set-charging-profile")
        assert [d.station_ids for d in node.deliveries] == [[station]]
        first_run = (await handle.describe()).run_id
        await _stop(sqlite_db, car)
        await time_skipping.sleep(timedelta(minutes=16))
        clears = node.commands("clear-charging-profile")
        assert [(c.station_id, c.arguments["evse_id"]) for c in clears] == [(station, 1)]
        current = client.get_workflow_handle(site_workflow_id(site_id))
        assert (await current.describe()).run_id != first_run
        await current.signal(SiteChargingWorkflow.switch_off)
        await current.result()
        await history_recorder.keep(current)


async def test_a_thousand_vehicles_are_planned_and_delivered_without_big_payloads(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """A thousand cars on a thousand chargers behind two gateway nodes: one plan, one
    activity per node carrying only station ids, every charger's commands read from
    the database and sent; no payload in the history comes near Temporal's limits
    (the plan in the history used to be 3.7 KiB per vehicle: 2 MB at 550)."""
    nodes = [_Node(sqlite_db), _Node(sqlite_db)]
    stations = [unique("K") for _ in range(1000)]
    site_id = unique("ts-site")
    await _configure(sqlite_db, site_id, stations, connection_kw=4000)
    async with sqlite_db.sessions.begin() as session:
        session.add_all(
            Station(id=s, site_id=site_id, registration_status="accepted") for s in stations
        )
        await session.flush()
        now = datetime.now(UTC)
        for station in stations:
            await transactions.start_transaction(
                session,
                station_id=station,
                site_id=site_id,
                connector_id=1,
                id_token="TAG-1",
                meter_start_wh=0,
                started_at=now,
                ocpp_version="2.0.1",
            )
        await registry.register(
            session,
            [
                registry.Registration(s, nodes[n % 2].node_id, unique("c"), "2.0.1", None, now)
                for n, s in enumerate(stations)
            ],
        )
    queue, client = unique("site-q"), time_skipping.client
    async with (
        build_worker(client, sqlite_db, queue),
        nodes[0].worker(client),
        nodes[1].worker(client),
    ):
        handle = await _start_site(client, site_id, queue)
        await time_skipping.sleep(timedelta(minutes=1))
        assert await handle.query(SiteChargingWorkflow.plans) == 1
        assert len(await handle.query(SiteChargingWorkflow.planned_points)) == 1000
        for node in nodes:
            assert len(node.deliveries) == 1 and len(node.deliveries[0].station_ids) == 500
            tx_profiles = {
                r.station_id
                for r in node.commands("set-charging-profile")
                if r.arguments["profile"]["purpose"] == "TxProfile"
            }
            assert len(tx_profiles) == 500
        history = await handle.fetch_history()
        sizes = [event.ByteSize() for event in history.events]
        print(f"history: {len(sizes)} events, largest {max(sizes)} B, total {sum(sizes)} B")
        assert max(sizes) < 64 * 1024, max(sizes)
        assert sum(sizes) < 512 * 1024, sum(sizes)
        await handle.signal(SiteChargingWorkflow.switch_off)
        await handle.result()
    # Switched off: every TxProfile the plan set is cleared.
    assert sum(len(n.commands("clear-charging-profile")) for n in nodes) == 1000


async def test_a_car_that_stops_drawing_makes_the_site_plan_again(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    station = unique("TS")
    site_id = await _smart_site(sqlite_db, [station])
    await _start(sqlite_db, site_id, station)
    queue, client = unique("site-q"), time_skipping.client
    async with build_worker(client, sqlite_db, queue):
        handle = await _start_site(client, site_id, queue)
        await time_skipping.sleep(timedelta(minutes=1))
        assert await handle.query(SiteChargingWorkflow.plans) == 1
        await handle.signal(SiteChargingWorkflow.draw_changed)
        await time_skipping.sleep(timedelta(seconds=10))
        assert await handle.query(SiteChargingWorkflow.plans) == 2  # not 15 minutes later
        await handle.signal(SiteChargingWorkflow.switch_off)
        await handle.result()
        await history_recorder.keep(handle)


async def test_a_utilitys_event_plans_the_site_without_the_debounce(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """``plan_now`` (what a demand-response event sends) plans at once; a configuration
    change waits for the debounce, so a burst costs one plan."""
    site_id = unique("ts-site")
    await _configure(sqlite_db, site_id, ["TS-10"])
    queue, client = unique("site-q"), time_skipping.client
    async with build_worker(client, sqlite_db, queue):
        handle = await _start_site(client, site_id, queue)
        await time_skipping.sleep(timedelta(minutes=1))
        plans = await handle.query(SiteChargingWorkflow.plans)
        began = await time_skipping.get_current_time()
        await handle.signal(SiteChargingWorkflow.plan_now)
        while await handle.query(SiteChargingWorkflow.plans) == plans:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        assert await time_skipping.get_current_time() - began < timedelta(seconds=1)
        began = await time_skipping.get_current_time()
        await handle.signal(SiteChargingWorkflow.config_changed)
        while await handle.query(SiteChargingWorkflow.plans) == plans + 1:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        assert await time_skipping.get_current_time() - began >= timedelta(seconds=2)
        await handle.signal(SiteChargingWorkflow.switch_off)
        await handle.result()
        await history_recorder.keep(handle)
