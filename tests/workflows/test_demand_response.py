"""The demand-response event's workflow on the time-skipping server: the sites plan
again at the ramp, at each boundary and at the end, on durable timers; a change
and a cancellation wake them at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.baselines import plan_baseline
from activities.persistence.database import Database
from activities.persistence.models import DrReport
from activities.persistence.repositories import registry
from deploy.worker import build_worker
from tests.conftest import unique
from tests.helpers import seed_dr_event, seed_station, seed_transaction, store_register
from tests.workflows import history_recorder
from workflows.commands import CommandOutcome, CommandReply, CommandRequest, gateway_task_queue
from workflows.demand_response import DemandResponseWorkflow, DrSchedule, dr_workflow_id
from workflows.domain import SessionStarted

HOUR = timedelta(hours=1)


@workflow.defn(name="SiteProbe", sandboxed=False)
class SiteProbe:
    """Stands where a site's planning workflow stands (``site:{id}``) and counts the
    times it is told to plan again, with when."""

    def __init__(self) -> None:
        self.woken: list[datetime] = []

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal
    def config_changed(self) -> None:
        self.woken.append(workflow.now())

    @workflow.signal
    def plan_now(self) -> None:  # what events send since "plan-now-nudge"
        self.woken.append(workflow.now())

    @workflow.query
    def times(self) -> list[datetime]:
        return self.woken


async def _probe(client: Client, queue: str, site: str) -> WorkflowHandle[SiteProbe, None]:
    return await client.start_workflow(SiteProbe.run, id=f"site:{site}", task_queue=queue)


async def _event(
    client: Client, queue: str, site: str, start: datetime, hours: list[float]
) -> WorkflowHandle[DemandResponseWorkflow, str]:
    boundaries = [start]
    for h in hours:
        boundaries.append(boundaries[-1] + timedelta(hours=h))
    event_id = unique("ev")
    return await client.start_workflow(
        DemandResponseWorkflow.run,
        DrSchedule(event_id, [site], boundaries),
        id=dr_workflow_id(event_id),
        task_queue=queue,
    )


async def test_an_event_announced_days_ahead_wakes_its_site_on_time(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    client, queue, site = time_skipping.client, unique("dr-q"), unique("site")
    async with (
        build_worker(client, sqlite_db, queue),
        Worker(client, task_queue=queue + "-probe", workflows=[SiteProbe]),
    ):
        probe = await _probe(client, queue + "-probe", site)
        now = await time_skipping.get_current_time()
        start = (now + timedelta(days=2)).replace(microsecond=0)
        handle = await _event(client, queue, site, start, [1.0, 1.0])  # two intervals
        await time_skipping.sleep(timedelta(days=1))
        assert (await handle.query(DemandResponseWorkflow.progress)).phase == "scheduled"
        assert await probe.query(SiteProbe.times) == []
        assert await handle.result() == "reported"
        woken = await probe.query(SiteProbe.times)
        # The ramp, the start, the boundary between the intervals, the end, on time.
        expected = [start - timedelta(minutes=5), *(start + timedelta(hours=h) for h in (0, 1, 2))]
        assert len(woken) == len(expected)
        for at, due in zip(woken, expected, strict=True):
            assert abs(at.replace(tzinfo=UTC) - due) < timedelta(seconds=1)
        await history_recorder.keep(handle)


async def test_a_change_mid_event_and_a_cancellation_wake_the_site_at_once(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    client, queue, site = time_skipping.client, unique("dr-q"), unique("site")
    other = unique("site")
    async with (
        build_worker(client, sqlite_db, queue),
        Worker(client, task_queue=queue + "-probe", workflows=[SiteProbe]),
    ):
        probe, other_probe = (
            await _probe(client, queue + "-probe", site),
            await _probe(client, queue + "-probe", other),
        )
        now = await time_skipping.get_current_time()
        start = (now + timedelta(minutes=10)).replace(microsecond=0)
        handle = await _event(client, queue, site, start, [2.0])
        await time_skipping.sleep(timedelta(minutes=30))  # active
        assert (await handle.query(DemandResponseWorkflow.progress)).phase == "active"
        assert len(await probe.query(SiteProbe.times)) == 2  # the ramp, the start
        # The utility moves the end an hour earlier and adds a site.
        changed = DrSchedule(
            handle.id.removeprefix("dr:"), [site, other], [start, start + timedelta(hours=1)]
        )
        await handle.signal(DemandResponseWorkflow.changed, changed)
        await time_skipping.sleep(timedelta(seconds=5))
        assert len(await probe.query(SiteProbe.times)) == 3
        assert len(await other_probe.query(SiteProbe.times)) == 1
        await handle.signal(DemandResponseWorkflow.cancelled)
        assert await handle.result() == "cancelled"
        assert len(await probe.query(SiteProbe.times)) == 4
        assert len(await other_probe.query(SiteProbe.times)) == 2
        await history_recorder.keep(handle)


class _Node:
    """A gateway node: its batch command activity answers Accepted and keeps requests."""

    def __init__(self) -> None:
        self.node_id = unique("node")
        self.requests: list[CommandRequest] = []

    @activity.defn(name="station_commands")
    async def station_commands(self, requests: list[CommandRequest]) -> list[CommandOutcome]:
        self.requests.extend(requests)
        return [
            CommandOutcome(
                r.station_id,
                reply=CommandReply(
                    r.station_id, r.command, "2.0.1", r.command, "Accepted", {}, {}, self.node_id, 1
                ),
            )
            for r in requests
        ]

    def worker(self, client: Client) -> Worker:
        return Worker(
            client, task_queue=gateway_task_queue(self.node_id), activities=[self.station_commands]
        )


async def test_a_site_without_smart_charging_holds_the_cap_with_station_maximums(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """Two stations, no smart charging, a 20 kW cap for an hour: from the start each
    station's maximum is 10 kW (the cap split over the site's stations), lifted at the
    end by the profile's id (an operator's own station maximum stays)."""
    client, queue, node = time_skipping.client, unique("dr-q"), _Node()
    site, stations = unique("plain"), [unique("PS"), unique("PS")]
    for station in stations:
        await seed_station(sqlite_db, station, site_id=site)
    now = await time_skipping.get_current_time()
    start = (now + timedelta(minutes=30)).replace(microsecond=0)
    event_id, _ = await seed_dr_event(sqlite_db, site, start, 60, [20])
    async with sqlite_db.sessions.begin() as session:
        held = [
            registry.Registration(s, node.node_id, unique("c"), "2.0.1", None, now)
            for s in stations
        ]
        await registry.register(session, held)
    async with build_worker(client, sqlite_db, queue), node.worker(client):
        handle = await client.start_workflow(
            DemandResponseWorkflow.run,
            DrSchedule(event_id, [site], [start, start + timedelta(hours=1)]),
            id=dr_workflow_id(event_id),
            task_queue=queue,
        )
        await time_skipping.sleep(timedelta(minutes=40))  # past the start
        sets = [r for r in node.requests if r.command == "set-charging-profile"]
        assert sorted(r.station_id for r in sets) == sorted(stations)
        profile = sets[0].arguments["profile"]
        assert profile["purpose"] == "StationMax" and profile["connector"] == 0
        assert profile["periods"][0]["limit"] == 10_000 and profile["rate_unit"] == "W"
        assert await handle.result() == "reported"
        lifts = [
            r
            for r in node.requests
            if r.command == "clear-charging-profile" and r.arguments["profile_id"] == 913_000
        ]
        # Lifted at the ramp (nothing in force yet) and at the end.
        assert len(lifts) == 4 and {r.station_id for r in lifts} == set(stations)
        await history_recorder.keep(handle)
    # Its baseline was taken when the event first reached it (no plan: its draw before).
    async with sqlite_db.sessions() as session:
        baseline = await plan_baseline(session, event_id, site)
    assert baseline is not None and baseline.quality == "ESTIMATED"
    measured_from = start - timedelta(minutes=5 + 15)  # the quarter hour before the ramp
    assert abs(baseline.start - measured_from.replace(tzinfo=UTC)) < timedelta(seconds=1)


async def _six_kw_car(
    db: Database, site: str, started_at: datetime, minutes: int
) -> tuple[str, SessionStarted]:
    """A station of the site with a car drawing 6 kW from ``started_at``, its register
    read each minute for ``minutes``."""
    station = unique("CAR")
    await seed_station(db, station, site_id=site)
    tx = await seed_transaction(db, station, site_id=site, started_at=started_at, meter_start_wh=0)
    await store_register(db, station, tx, [100.0 * (m + 1) for m in range(minutes)])
    return station, tx


async def test_the_report_waits_for_the_meters_reading_past_the_end(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """A car charging through the event, its last reading before the end: the workflow
    recovers (waits) until a reading past the end arrives, then reports a measured,
    not estimated, last interval."""
    client, queue, site = time_skipping.client, unique("dr-q"), unique("site")
    now = await time_skipping.get_current_time()
    start = (now + timedelta(minutes=10)).replace(microsecond=0)
    # 6 kW, a reading a minute, the last at the end minus a minute.
    station, tx = await _six_kw_car(sqlite_db, site, start - timedelta(minutes=20), 49)
    event_id, _ = await seed_dr_event(sqlite_db, site, start, 30, [20.0])
    async with build_worker(client, sqlite_db, queue):
        handle = await client.start_workflow(
            DemandResponseWorkflow.run,
            DrSchedule(event_id, [site], [start, start + timedelta(minutes=30)]),
            id=dr_workflow_id(event_id),
            task_queue=queue,
        )
        await time_skipping.sleep(timedelta(minutes=42))  # two minutes past the end
        assert (await handle.query(DemandResponseWorkflow.progress)).phase == "recovering"
        await store_register(sqlite_db, station, tx, [5000.0, 5100.0], after_minutes=49)
        assert await handle.result() == "reported"
        report_id = (await handle.query(DemandResponseWorkflow.progress)).report_id
        await history_recorder.keep(handle)
    async with sqlite_db.sessions() as session:
        report = await session.get(DrReport, report_id)
    assert report is not None
    [interval] = report.body["resources"][0]["intervals"]
    values = {p["type"]: p["values"][0] for p in interval["payloads"]}
    assert values["DATA_QUALITY"] == "OK" and values["DEMAND"] == pytest.approx(6.0, abs=0.01)


async def test_changes_are_validated_updates_and_a_worker_restart_mid_event_changes_nothing(
    temporal_dev: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """On a real Temporal server in real time: a change for another event or without
    boundaries is refused before it reaches the history; a good one is answered with
    the phase; the worker stops mid-event and another takes over: every moment still
    wakes the site, and the event is reported."""
    client, queue, site = temporal_dev.client, unique("dr-live"), unique("site")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    event_id, _ = await seed_dr_event(sqlite_db, site, start, 1, [20.0])
    schedule = DrSchedule(
        event_id, [site], [start, start + timedelta(seconds=3), start + timedelta(seconds=6)], 2.0
    )
    async with Worker(client, task_queue=queue + "-probe", workflows=[SiteProbe]):
        probe = await _probe(client, queue + "-probe", site)
        async with build_worker(client, sqlite_db, queue):
            handle = await client.start_workflow(
                DemandResponseWorkflow.run, schedule, id=dr_workflow_id(event_id), task_queue=queue
            )
            for bad in (
                DrSchedule("another-event", [site], schedule.boundaries),
                DrSchedule(event_id, [site], []),
            ):
                with pytest.raises(WorkflowUpdateFailedError):
                    await handle.execute_update(DemandResponseWorkflow.change, bad)
            assert await handle.execute_update(DemandResponseWorkflow.change, schedule) in (
                "scheduled",
                "ramping",
            )
            phase = DemandResponseWorkflow.progress
            while (await handle.query(phase)).phase != "active":  # noqa: ASYNC110 (a query)
                await asyncio.sleep(0.1)
        # The first worker is gone mid-event; another one carries on from the history.
        async with build_worker(client, sqlite_db, queue):
            assert await handle.result() == "reported"
            await history_recorder.keep(handle)
        woken = await probe.query(SiteProbe.times)
    # The change, the ramp, the start, the boundary, the end: nothing missed.
    assert len(woken) == 5
    assert woken[-1].replace(tzinfo=UTC) >= start + timedelta(seconds=6)


async def test_the_compliance_so_far_is_live_while_the_event_is_active(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """A car drawing 6 kW: within the first interval's 20 kW, over the second's 5 kW;
    the workflow says so while the second runs."""
    client, queue, site = time_skipping.client, unique("dr-q"), unique("site")
    now = await time_skipping.get_current_time()
    start = (now + timedelta(minutes=10)).replace(microsecond=0)
    await _six_kw_car(sqlite_db, site, start - timedelta(minutes=5), 70)
    event_id, _ = await seed_dr_event(sqlite_db, site, start, 30, [20.0, 5.0])
    async with build_worker(client, sqlite_db, queue):
        handle = await client.start_workflow(
            DemandResponseWorkflow.run,
            DrSchedule(event_id, [site], [start, start + timedelta(minutes=30), start + HOUR]),
            id=dr_workflow_id(event_id),
            task_queue=queue,
        )
        await time_skipping.sleep(timedelta(minutes=10 + 30 + 12))
        progress = await handle.query(DemandResponseWorkflow.progress)
        assert progress.phase == "active" and progress.live is not None
        assert f"{site} 6.0/5 kW OVER" in progress.live
        assert "1/1 intervals within" in progress.live
        await handle.signal(DemandResponseWorkflow.cancelled)
        assert await handle.result() == "cancelled"
        await history_recorder.keep(handle)


async def test_an_event_cancelled_before_it_starts_never_ramps(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    client, queue, site = time_skipping.client, unique("dr-q"), unique("site")
    async with (
        build_worker(client, sqlite_db, queue),
        Worker(client, task_queue=queue + "-probe", workflows=[SiteProbe]),
    ):
        probe = await _probe(client, queue + "-probe", site)
        now = await time_skipping.get_current_time()
        handle = await _event(client, queue, site, now + timedelta(days=2), [1.0])
        await time_skipping.sleep(timedelta(days=1))
        assert await handle.execute_update(DemandResponseWorkflow.cancel) == "scheduled"
        assert await handle.result() == "cancelled"
        # Woken once, by the cancellation (plans without it); no ramp, no start, no report.
        assert len(await probe.query(SiteProbe.times)) == 1
        progress = await handle.query(DemandResponseWorkflow.progress)
        assert progress.report_id is None
        await history_recorder.keep(handle)
