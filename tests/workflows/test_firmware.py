"""Firmware updates and campaigns on the time-skipping server, with the real worker and
a gateway node of scripted chargers (:mod:`tests.workflows.firmware_node`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.persistence.database import Database
from activities.persistence.models import (
    FirmwareRolloutRow,
    FirmwareUpdateRow,
    ReconciliationItem,
    Station,
    Transaction,
)
from deploy.worker import build_worker
from tests.conftest import unique
from tests.helpers import seed_transaction
from tests.workflows.firmware_node import FirmwareNode, seed_fleet, seed_image
from workflows.firmware import (
    ALLOW_NEW_SESSIONS,
    FirmwareUpdateRequest,
    FirmwareUpdateResult,
    RetryRequest,
    RolloutProgress,
    RolloutRequest,
    RolloutSettings,
    StepTimeouts,
    TargetFilter,
    Targets,
    Window,
    firmware_update_workflow_id,
    rollout_workflow_id,
)
from workflows.firmware_rollout import FirmwareRolloutWorkflow
from workflows.firmware_update import FirmwareUpdateWorkflow

FAST = RolloutSettings(canary_count=2, soak_s=600, growth_factor=2.0, promote_share=1.0)


async def _rollout(
    env: WorkflowEnvironment, queue: str, request: RolloutRequest
) -> WorkflowHandle[FirmwareRolloutWorkflow, RolloutProgress]:
    return await env.client.start_workflow(
        FirmwareRolloutWorkflow.run,
        request,
        id=rollout_workflow_id(request.rollout_id),
        task_queue=queue,
    )


async def _progress(handle: WorkflowHandle) -> RolloutProgress:
    return await handle.query(FirmwareRolloutWorkflow.progress, True)


async def _until(
    handle: WorkflowHandle, check: Callable[[RolloutProgress], bool], timeout: float = 20.0
) -> RolloutProgress:
    """Query the campaign until ``check(progress)`` holds."""
    async with asyncio.timeout(timeout):
        while True:
            progress = await _progress(handle)
            if check(progress):
                return progress
            await asyncio.sleep(0.05)


async def test_a_three_wave_campaign_updates_every_station_wave_after_wave(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = FirmwareNode(sqlite_db, time_skipping.client, "1.1")
    sites = {unique("s1"): 3, unique("s2"): 4}
    stations = await seed_fleet(sqlite_db, node, sites)
    image = await seed_image(sqlite_db, "1.1")
    queue = unique("fw-q")
    async with build_worker(time_skipping.client, sqlite_db, queue), node.worker():
        rollout_id = unique("ro")
        handle = await _rollout(
            time_skipping,
            queue,
            RolloutRequest(rollout_id, image, TargetFilter(site_ids=list(sites)), FAST),
        )
        result = await handle.result()
    assert result.state == "completed"
    assert [w.size for w in result.waves] == [2, 4, 1]
    assert result.counts == {"succeeded": 7}
    # The canary took one station of each site.
    canary = node.stations_sent()[:2]
    async with sqlite_db.sessions() as session:
        canary_sites = {(await session.get(Station, s)).site_id for s in canary}  # type: ignore[union-attr]
        assert canary_sites == set(sites)
        versions = {
            s.firmware_version
            for s in (await session.scalars(select(Station).where(Station.id.in_(stations)))).all()
        }
        rows = (
            await session.scalars(
                select(FirmwareUpdateRow).where(FirmwareUpdateRow.rollout_id == rollout_id)
            )
        ).all()
        row = await session.get(FirmwareRolloutRow, rollout_id)
    assert versions == {"1.1"}
    assert {(r.status, r.from_version, r.charger_status) for r in rows} == {
        ("succeeded", "0.9", "InstallRebooting")
    }
    assert (
        row is not None
        and row.state == "completed"
        and row.finished_at is not None
        and row.targets == 7
    )
    # Wave 1 began only after the canary's soak.
    canary_done = max(s.at for s in node.sent[:2])
    assert min(s.at for s in node.sent[2:]) >= canary_done + timedelta(seconds=FAST.soak_s)


async def test_canary_failures_abort_the_campaign_before_the_next_wave(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = FirmwareNode(sqlite_db, time_skipping.client, "1.1")
    site = unique("s")
    # One site: the canary is the first five by id.
    stations = sorted(await seed_fleet(sqlite_db, node, {site: 20}))
    image = await seed_image(sqlite_db, "1.1")
    settings = replace(FAST, canary_count=5, abort_min_stations=5)
    # Two of the five canaries fail their install: 40% > 10%.
    node.behaviour.update({stations[0]: "install_failed", stations[1]: "install_failed"})
    queue = unique("fw-q")
    async with build_worker(time_skipping.client, sqlite_db, queue), node.worker():
        rollout_id = unique("ro")
        handle = await _rollout(
            time_skipping,
            queue,
            RolloutRequest(rollout_id, image, TargetFilter(site_ids=[site]), settings),
        )
        result = await handle.result()
    assert result.state == "aborted"
    assert result.reason is not None and result.reason.startswith("install_failed: 2 of 5")
    assert [w.released for w in result.waves] == [True, False, False]
    assert sorted(node.stations_sent()) == sorted(stations[:5])
    assert result.counts == {"succeeded": 3, "failed": 2, "pending": 15}
    assert result.failures == {"install_failed": 2}
    async with sqlite_db.sessions() as session:
        alerts = (
            await session.scalars(
                select(ReconciliationItem).where(
                    ReconciliationItem.kind == "FirmwareRolloutAborted"
                )
            )
        ).all()
    assert [a.payload["rollout_id"] for a in alerts if a.payload["rollout_id"] == rollout_id] == [
        rollout_id
    ]


async def test_an_invalid_signature_aborts_at_once(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = FirmwareNode(sqlite_db, time_skipping.client, "1.1")
    site = unique("s")
    stations = sorted(await seed_fleet(sqlite_db, node, {site: 6}))
    image = await seed_image(sqlite_db, "1.1")
    node.behaviour[stations[0]] = "invalid_signature"
    queue = unique("fw-q")
    async with build_worker(time_skipping.client, sqlite_db, queue), node.worker():
        handle = await _rollout(
            time_skipping,
            queue,
            RolloutRequest(
                unique("ro"), image, TargetFilter(site_ids=[site]), replace(FAST, canary_count=1)
            ),
        )
        result = await handle.result()
    assert result.state == "aborted" and result.failures == {"signature_invalid": 1}
    assert node.stations_sent() == [stations[0]]


async def test_pause_holds_the_next_wave_and_resume_finishes_it(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = FirmwareNode(sqlite_db, time_skipping.client, "1.2")
    site = unique("s")
    await seed_fleet(sqlite_db, node, {site: 5})
    image = await seed_image(sqlite_db, "1.2")
    queue = unique("fw-q")
    async with build_worker(time_skipping.client, sqlite_db, queue), node.worker():
        handle = await _rollout(
            time_skipping,
            queue,
            RolloutRequest(unique("ro"), image, TargetFilter(site_ids=[site]), FAST),
        )
        # The canary is done and soaking (time does not skip outside result()).
        await _until(handle, lambda p: p.counts.get("succeeded") == 2)
        paused = await handle.execute_update(FirmwareRolloutWorkflow.pause, "checking the canary")
        assert paused.state == "paused"
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(FirmwareRolloutWorkflow.pause, "again")
        assert "cannot pause: the rollout is paused" in str(refused.value.cause)
        # Paused for a day: nothing else starts.
        await time_skipping.sleep(timedelta(days=1))
        assert len(node.sent) == 2
        assert (await _progress(handle)).state == "paused"
        resumed = await handle.execute_update(FirmwareRolloutWorkflow.resume)
        assert resumed.state == "running"
        result = await handle.result()
    assert result.state == "completed" and result.counts == {"succeeded": 5}


async def test_cancel_stops_the_campaign_and_calls_off_what_was_not_sent(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = FirmwareNode(sqlite_db, time_skipping.client, "1.2")
    site = unique("s")
    await seed_fleet(sqlite_db, node, {site: 6})
    image = await seed_image(sqlite_db, "1.2")
    queue = unique("fw-q")
    async with build_worker(time_skipping.client, sqlite_db, queue), node.worker():
        rollout_id = unique("ro")
        handle = await _rollout(
            time_skipping,
            queue,
            RolloutRequest(rollout_id, image, TargetFilter(site_ids=[site]), FAST),
        )
        await _until(handle, lambda p: p.counts.get("succeeded") == 2)
        await handle.execute_update(FirmwareRolloutWorkflow.cancel)
        result = await handle.result()
    assert result.state == "cancelled"
    assert result.counts == {"succeeded": 2, "cancelled": 4}
    assert len(node.sent) == 2


async def test_installs_start_only_inside_the_sites_maintenance_window(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = FirmwareNode(sqlite_db, time_skipping.client, "2.0")
    site = unique("s")
    zone = "America/New_York"
    await seed_fleet(sqlite_db, node, {site: 4}, time_zone=zone)
    image = await seed_image(sqlite_db, "2.0")
    # A two-hour window each night, local time; at most half the site at once.
    now_local = (await time_skipping.get_current_time()).astimezone(ZoneInfo(zone))
    start = (now_local + timedelta(hours=3)).replace(minute=0)
    window = Window(start=f"{start.hour:02d}:00", end=f"{(start.hour + 2) % 24:02d}:00")
    settings = replace(FAST, canary_count=1, windows=[window], max_site_share=0.5)
    queue = unique("fw-q")
    async with build_worker(time_skipping.client, sqlite_db, queue), node.worker():
        handle = await _rollout(
            time_skipping,
            queue,
            RolloutRequest(unique("ro"), image, TargetFilter(site_ids=[site]), settings),
        )
        waiting = await _until(handle, lambda p: p.counts.get("waiting") == 1)
        assert node.sent == [] and waiting.state == "running"
        result = await handle.result()
    assert result.state == "completed" and result.counts == {"succeeded": 4}
    for sent in node.sent:
        local = sent.at.astimezone(ZoneInfo(zone))
        opens = local.replace(hour=start.hour, minute=0, second=0, microsecond=0)
        if local < opens:
            opens -= timedelta(days=1)
        assert opens <= local < opens + timedelta(hours=2), local


async def _until_waiting_for_session(handle: WorkflowHandle) -> None:
    async with asyncio.timeout(20):
        while True:
            if await handle.query(FirmwareUpdateWorkflow.status) == "waiting_for_session":
                return
            await asyncio.sleep(0.05)


async def _end_sessions(db: Database, station: str) -> None:
    async with db.sessions.begin() as session:
        for tx in (
            await session.scalars(select(Transaction).where(Transaction.station_id == station))
        ).all():
            tx.status = "completed"


async def test_an_active_session_delays_the_update_until_it_ends(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = FirmwareNode(sqlite_db, time_skipping.client, "3.0")
    site = unique("s")
    [station] = await seed_fleet(sqlite_db, node, {site: 1})
    image = await seed_image(sqlite_db, "3.0")
    await seed_transaction(sqlite_db, station, site_id=site)
    queue = unique("fw-q")
    async with build_worker(time_skipping.client, sqlite_db, queue), node.worker():
        handle = await time_skipping.client.start_workflow(
            FirmwareUpdateWorkflow.run,
            FirmwareUpdateRequest(station, image),
            id=firmware_update_workflow_id(station),
            task_queue=queue,
        )
        await _until_waiting_for_session(handle)
        assert node.sent == []
        await _end_sessions(sqlite_db, station)
        result: FirmwareUpdateResult = await handle.result()
    assert result.outcome == "succeeded" and result.version == "3.0"
    assert len(node.sent) == 1


async def test_a_session_that_outlasts_the_wait_fails_the_update_as_busy(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = FirmwareNode(sqlite_db, time_skipping.client, "3.0")
    site = unique("s")
    [station] = await seed_fleet(sqlite_db, node, {site: 1})
    image = await seed_image(sqlite_db, "3.0")
    await seed_transaction(sqlite_db, station, site_id=site)
    queue = unique("fw-q")
    async with build_worker(time_skipping.client, sqlite_db, queue), node.worker():
        result: FirmwareUpdateResult = await time_skipping.client.execute_workflow(
            FirmwareUpdateWorkflow.run,
            FirmwareUpdateRequest(station, image, timeouts=StepTimeouts(idle_wait_s=3600)),
            id=firmware_update_workflow_id(station),
            task_queue=queue,
        )
    assert (result.outcome, result.failure) == ("failed", "busy")
    assert node.sent == []


@pytest.mark.parametrize(
    ("ocpp_version", "answer", "set_to", "sent_while_busy"),
    [
        # A 2.x station told to refuse new sessions drains itself: the update goes out.
        ("2.0.1", "Accepted", "false", True),
        ("2.1", "RebootRequired", "false", True),
        # One that refuses the setting is waited for, as a 1.6 station always is.
        ("2.0.1", "Rejected", "false", False),
        ("1.6", None, None, False),
    ],
)
async def test_allow_new_sessions_pending_update_decides_who_waits_for_the_session(
    time_skipping: WorkflowEnvironment,
    sqlite_db: Database,
    ocpp_version: str,
    answer: str | None,
    set_to: str | None,
    sent_while_busy: bool,
) -> None:
    node = FirmwareNode(sqlite_db, time_skipping.client, "3.1")
    site = unique("s")
    [station] = await seed_fleet(sqlite_db, node, {site: 1}, ocpp_version=ocpp_version)
    image = await seed_image(sqlite_db, "3.1")
    await seed_transaction(sqlite_db, station, site_id=site)
    if answer is not None:
        node.setting_answer[station] = answer
    queue = unique("fw-q")
    async with build_worker(time_skipping.client, sqlite_db, queue), node.worker():
        handle = await time_skipping.client.start_workflow(
            FirmwareUpdateWorkflow.run,
            FirmwareUpdateRequest(
                station, image, ocpp_version=ocpp_version, allow_new_sessions=False
            ),
            id=firmware_update_workflow_id(station),
            task_queue=queue,
        )
        if sent_while_busy:
            result: FirmwareUpdateResult = await handle.result()
            assert len(node.sent) == 1
        else:
            await _until_waiting_for_session(handle)
            assert node.sent == []
            await _end_sessions(sqlite_db, station)
            result = await handle.result()
    assert result.outcome == "succeeded" and result.version == "3.1"
    expected = [] if set_to is None else [(station, ALLOW_NEW_SESSIONS, set_to)]
    assert node.settings == expected


async def test_a_campaign_passes_the_session_setting_to_its_2x_stations_only(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = FirmwareNode(sqlite_db, time_skipping.client, "3.2")
    new = await seed_fleet(sqlite_db, node, {unique("s"): 2}, ocpp_version="2.0.1")
    old = await seed_fleet(sqlite_db, node, {unique("s"): 2}, ocpp_version="1.6")
    image = await seed_image(sqlite_db, "3.2")
    queue = unique("fw-q")
    settings = replace(FAST, canary_count=4, allow_new_sessions=True)
    async with build_worker(time_skipping.client, sqlite_db, queue), node.worker():
        handle = await _rollout(
            time_skipping,
            queue,
            RolloutRequest(unique("r"), image, TargetFilter(station_ids=new + old), settings),
        )
        progress = await handle.result()
    assert progress.counts == {"succeeded": 4}
    assert sorted(node.settings) == sorted((s, ALLOW_NEW_SESSIONS, "true") for s in new)


@pytest.mark.parametrize(
    ("behaviour", "outcome", "failure"),
    [
        ("ok16", "succeeded", None),
        ("never_back", "failed", "did_not_come_back"),
        ("old_version", "failed", "install_failed"),
        ("download_failed", "failed", "download_failed"),
        ("silent", "failed", "timed_out"),
        ("rejected", "failed", "rejected"),
    ],
)
async def test_a_single_update_ends_as_the_charger_behaves(
    time_skipping: WorkflowEnvironment,
    sqlite_db: Database,
    behaviour: str,
    outcome: str,
    failure: str | None,
) -> None:
    node = FirmwareNode(sqlite_db, time_skipping.client, "4.0")
    [station] = await seed_fleet(sqlite_db, node, {unique("s"): 1})
    image = await seed_image(sqlite_db, "4.0")
    node.behaviour[station] = behaviour
    queue = unique("fw-q")
    workflow_id = firmware_update_workflow_id(station)
    async with build_worker(time_skipping.client, sqlite_db, queue), node.worker():
        result: FirmwareUpdateResult = await time_skipping.client.execute_workflow(
            FirmwareUpdateWorkflow.run,
            FirmwareUpdateRequest(station, image),
            id=workflow_id,
            task_queue=queue,
        )
        history = await time_skipping.client.get_workflow_handle(workflow_id).fetch_history()
    assert (result.outcome, result.failure) == (outcome, failure), result.reason
    assert len(history.events) < 200
    async with sqlite_db.sessions() as session:
        row = (
            await session.scalars(
                select(FirmwareUpdateRow).where(FirmwareUpdateRow.workflow_id == workflow_id)
            )
        ).one()
    assert (row.status, row.failure, row.finished_at is not None) == (outcome, failure, True)


async def test_retry_gives_failed_stations_another_attempt(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = FirmwareNode(sqlite_db, time_skipping.client, "5.0")
    site = unique("s")
    stations = sorted(await seed_fleet(sqlite_db, node, {site: 4}))
    image = await seed_image(sqlite_db, "5.0")
    node.behaviour[stations[0]] = "download_failed"
    # No abort (a third is below 50%), but the canary ends short: the campaign pauses.
    settings = replace(FAST, canary_count=3, abort_shares={"download_failed": 0.5})
    queue = unique("fw-q")
    async with build_worker(time_skipping.client, sqlite_db, queue), node.worker():
        handle = await _rollout(
            time_skipping,
            queue,
            RolloutRequest(unique("ro"), image, TargetFilter(site_ids=[site]), settings),
        )
        paused = await _until(handle, lambda p: p.state == "paused")
        assert paused.reason is not None and "retry or promote" in paused.reason
        assert paused.counts == {"failed": 1, "succeeded": 2, "pending": 1}
        node.behaviour[stations[0]] = "ok"
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(FirmwareRolloutWorkflow.retry, RetryRequest(["nope"]))
        assert "not in this rollout: nope" in str(refused.value.cause)
        await handle.execute_update(FirmwareRolloutWorkflow.retry, RetryRequest([stations[0]]))
        result = await handle.result()
    assert result.state == "completed" and result.counts == {"succeeded": 4}
    assert result.stations is not None and result.stations[stations[0]].attempts == 2


def test_a_campaign_names_a_bounded_number_of_the_stations_it_leaves_out() -> None:
    skipped = {f"ST-{n:05d}": "already on 2.0" for n in range(2500)}
    chosen = Targets([], skipped, {}).bounded(1000)
    assert len(chosen.skipped) == 1000 and chosen.more_skipped == 1500
    assert sorted(chosen.skipped) == sorted(skipped)[:1000]
    small = Targets([], {"ST-1": "no such station"}, {})
    assert small.bounded(1000) is small


async def test_a_multi_vendor_campaign_gives_each_model_its_image_and_canaries_every_image(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = FirmwareNode(sqlite_db, time_skipping.client, "unused")
    acme_site, zeta_site = unique("acme"), unique("zeta")
    acme = await seed_fleet(sqlite_db, node, {acme_site: 4})
    zeta = await seed_fleet(sqlite_db, node, {zeta_site: 3}, vendor="Zeta", model="Z-7")
    acme_image = await seed_image(sqlite_db, "2.4")
    zeta_image = await seed_image(sqlite_db, "7.1", vendor="Zeta", models=["Z-7"])
    node.versions = {acme_image.location: "2.4", zeta_image.location: "7.1"}
    queue = unique("fw-q")
    settings = replace(FAST, canary_count=1)
    async with build_worker(time_skipping.client, sqlite_db, queue), node.worker():
        handle = await _rollout(
            time_skipping,
            queue,
            RolloutRequest(
                unique("ro"),
                acme_image,
                TargetFilter(site_ids=[acme_site, zeta_site]),
                settings,
                other_images=[zeta_image],
            ),
        )
        result = await handle.result()
    assert result.state == "completed" and result.counts == {"succeeded": 7}
    # One canary station per image, though the settings asked for one station.
    assert result.waves[0].size == 2
    assert {s.station_id in zeta for s in node.sent[:2]} == {True, False}
    for sent in node.sent:
        wanted = zeta_image if sent.station_id in zeta else acme_image
        assert sent.arguments["location"] == wanted.location
    async with sqlite_db.sessions() as session:
        versions = {
            s.id: s.firmware_version
            for s in (
                await session.scalars(select(Station).where(Station.id.in_(acme + zeta)))
            ).all()
        }
    assert versions == {**dict.fromkeys(acme, "2.4"), **dict.fromkeys(zeta, "7.1")}


async def test_a_second_update_of_a_station_gets_a_row_and_a_request_id_of_its_own(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    node = FirmwareNode(sqlite_db, time_skipping.client, "3.0")
    [station] = await seed_fleet(sqlite_db, node, {unique("s"): 1})
    queue = unique("fw-q")
    results: list[FirmwareUpdateResult] = []
    async with build_worker(time_skipping.client, sqlite_db, queue), node.worker():
        # The same workflow id twice (firmware:{station}), one run after the other.
        for version in ("3.0", "3.1"):
            node.version = version
            image = await seed_image(sqlite_db, version)
            results.append(
                await time_skipping.client.execute_workflow(
                    FirmwareUpdateWorkflow.run,
                    FirmwareUpdateRequest(station, image),
                    id=firmware_update_workflow_id(station),
                    task_queue=queue,
                )
            )
    assert [(r.outcome, r.version) for r in results] == [("succeeded", "3.0"), ("succeeded", "3.1")]
    assert results[0].request_id != results[1].request_id
    assert [s.arguments["request_id"] for s in node.sent] == [r.request_id for r in results]
    async with sqlite_db.sessions() as session:
        rows = (
            await session.scalars(
                select(FirmwareUpdateRow)
                .where(FirmwareUpdateRow.station_id == station)
                .order_by(FirmwareUpdateRow.id)
            )
        ).all()
    assert [(r.target_version, r.status, r.charger_status) for r in rows] == [
        ("3.0", "succeeded", "InstallRebooting"),
        ("3.1", "succeeded", "InstallRebooting"),
    ]
