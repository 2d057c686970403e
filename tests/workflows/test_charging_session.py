"""The charging-session workflow on the time-skipping test server, with its real activities."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.persistence.database import Database
from activities.persistence.repositories import cdrs, meter_samples, reconciliation, transactions
from deploy.worker import build_worker
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction, store_register
from workflows.charging_session import ChargingSessionWorkflow
from workflows.domain import (
    ChargeDetailRecord,
    SessionProgress,
    SessionStarted,
    SessionState,
    SessionStopped,
    session_workflow_id,
)

HISTORIES = Path(__file__).parent / "histories"


async def _start(
    env: WorkflowEnvironment,
    start: SessionStarted,
    queue: str,
    signal: str = "started",
    arg: object = None,
) -> WorkflowHandle:
    return await env.client.start_workflow(
        ChargingSessionWorkflow.run,
        start,
        id=session_workflow_id(start.station_id, start.transaction_id),
        task_queue=queue,
        start_signal=signal,
        start_signal_args=[arg if arg is not None else start],
    )


async def test_session_settles_into_a_priced_cdr(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    station, queue = unique("CP"), unique("q")
    await seed_station(sqlite_db, station, site_id="site-ws", price="0.40")
    start = await seed_transaction(sqlite_db, station, site_id="site-ws", meter_start_wh=1000)
    async with build_worker(time_skipping.client, sqlite_db, queue):
        handle = await _start(time_skipping, start, queue)
        await handle.signal(
            ChargingSessionWorkflow.progress,
            SessionProgress(
                start.transaction_id, 5000.0, 11_000.0, start.started_at + timedelta(minutes=20)
            ),
        )
        view = await handle.query(ChargingSessionWorkflow.state)
        assert view.state == SessionState.ACTIVE
        assert view.energy_so_far_wh == 4000.0
        await handle.signal(
            ChargingSessionWorkflow.stopped,
            SessionStopped(
                start.transaction_id,
                13_500,
                start.started_at + timedelta(hours=1),
                "EVDisconnected",
            ),
        )
        cdr: ChargeDetailRecord = await handle.result()
    assert cdr.energy_wh == 12_500.0
    assert cdr.total_cost == "5.00"  # 12.5 kWh x 0.40
    assert cdr.currency == "EUR" and cdr.stop_reason == "EVDisconnected"
    async with sqlite_db.sessions() as session:
        tx = await transactions.get_by_ref(session, station, start.transaction_id)
        assert tx is not None and tx.status == "completed"
        row = await cdrs.get_for_transaction(session, tx.id)
        assert row is not None and str(row.total_cost) in ("5.00", "5.000000")


async def test_stop_arriving_first_starts_the_session_and_duplicates_are_ignored(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    station, queue = unique("CP"), unique("q")
    await seed_station(sqlite_db, station, site_id="site-ws")
    start = await seed_transaction(sqlite_db, station, site_id="site-ws", meter_start_wh=0)
    stop = SessionStopped(start.transaction_id, 2000, start.started_at + timedelta(hours=1))
    async with build_worker(time_skipping.client, sqlite_db, queue):
        # The outbox may deliver the stop before the start: signal-with-start copes.
        handle = await _start(time_skipping, start, queue, "stopped", stop)
        late = SessionStopped(start.transaction_id, 999_999, start.started_at)
        await handle.signal(ChargingSessionWorkflow.stopped, late)
        await handle.signal(ChargingSessionWorkflow.started, start)
        cdr = await handle.result()
    assert cdr.energy_wh == 2000.0


async def test_session_without_stop_is_closed_after_seven_days(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    station, queue = unique("CP"), unique("q")
    await seed_station(sqlite_db, station, site_id="site-ws", price="0.40")
    start = await seed_transaction(sqlite_db, station, site_id="site-ws", meter_start_wh=100)
    await store_register(sqlite_db, station, start, [600.0, 3100.0])
    async with build_worker(time_skipping.client, sqlite_db, queue):
        handle = await _start(time_skipping, start, queue)
        # The last (throttled) progress is older than the stored samples.
        await handle.signal(
            ChargingSessionWorkflow.progress,
            SessionProgress(start.transaction_id, 600.0, None, start.started_at),
        )
        cdr = await handle.result()  # the test server skips the 7-day timer
    assert cdr.stop_reason == "NoStopReceived"
    assert cdr.energy_wh == 3000.0  # from the highest stored register, not the stale signal
    assert cdr.total_cost == "1.20"


async def test_meter_going_backwards_falls_back_to_samples(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    station, queue = unique("CP"), unique("q")
    await seed_station(sqlite_db, station, site_id="site-ws")
    start = await seed_transaction(sqlite_db, station, site_id="site-ws", meter_start_wh=5000)
    async with sqlite_db.sessions.begin() as session:
        await meter_samples.add_samples(
            session,
            [
                {
                    "transaction_pk": int(start.transaction_id),
                    "station_id": station,
                    "connector_id": 1,
                    "sampled_at": start.started_at + timedelta(minutes=m),
                    "measurand": "Energy.Active.Import.Register",
                    "phase": None,
                    "location": None,
                    "context": None,
                    "unit": "Wh",
                    "value": 5000.0 + 100 * m,
                }
                for m in range(1, 6)
            ],
        )
    async with build_worker(time_skipping.client, sqlite_db, queue):
        handle = await _start(
            time_skipping,
            start,
            queue,
            "stopped",
            SessionStopped(start.transaction_id, 0, start.started_at + timedelta(minutes=6)),
        )
        cdr = await handle.result()
    assert cdr.energy_wh == 500.0
    assert any("below meter start" in note for note in cdr.notes)


async def test_a_session_that_will_not_settle_goes_to_reconciliation(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """Settlement has an attempt limit: a session it cannot settle (here, no stored
    transaction) ends ``unsettled`` with a reconciliation item, instead of retrying
    forever or failing with no trace an operator would see."""
    queue = unique("q")
    start = SessionStarted(
        unique("CP"), None, 1, str(uuid.uuid4().int % 10**9), "T", 0, datetime.now(UTC)
    )
    async with build_worker(time_skipping.client, sqlite_db, queue):
        handle = await _start(
            time_skipping,
            start,
            queue,
            "stopped",
            SessionStopped(start.transaction_id, 10, datetime.now(UTC)),
        )
        assert await handle.result() is None
        view = await handle.query(ChargingSessionWorkflow.state)
    assert view.state == SessionState.UNSETTLED
    async with sqlite_db.sessions() as session:
        items = await reconciliation.list_items(session, station_id=start.station_id)
    assert [i.kind for i in items] == ["SessionNotSettled"]
    assert "is not stored" in (items[0].note or "")


@pytest.mark.parametrize("path", ["progress_then_stop", "stop_first", "no_stop"])
async def test_recorded_histories_replay_deterministically(
    time_skipping: WorkflowEnvironment, sqlite_db: Database, path: str
) -> None:
    """The workflow runs unsandboxed; replaying histories of each path catches
    non-determinism, in this code and against histories recorded by earlier versions
    (``CSMS_RECORD_HISTORY=1`` records them)."""
    station, queue = unique("CP"), unique("q")
    await seed_station(sqlite_db, station, site_id="site-ws")
    start = await seed_transaction(sqlite_db, station, site_id="site-ws")
    stop = SessionStopped(start.transaction_id, 3000, start.started_at + timedelta(hours=1))
    async with build_worker(time_skipping.client, sqlite_db, queue):
        if path == "stop_first":
            handle = await _start(time_skipping, start, queue, "stopped", stop)
        else:
            handle = await _start(time_skipping, start, queue)
            await handle.signal(
                ChargingSessionWorkflow.progress,
                SessionProgress(
                    start.transaction_id, 1500.0, 7000.0, start.started_at + timedelta(minutes=5)
                ),
            )
            if path == "progress_then_stop":
                await handle.signal(ChargingSessionWorkflow.stopped, stop)
        await handle.result()  # "no_stop" waits out the 7-day timer (skipped)
    history = await handle.fetch_history()
    replayer = Replayer(workflows=[ChargingSessionWorkflow])
    await replayer.replay_workflow(history)
    recorded = HISTORIES / f"{path}.json"
    if os.environ.get("CSMS_RECORD_HISTORY"):
        recorded.write_text(history.to_json())
    assert recorded.exists(), f"record {recorded.name} with CSMS_RECORD_HISTORY=1"
    await replayer.replay_workflow(WorkflowHistory.from_json(path, recorded.read_text()))


async def test_implausible_charger_times_are_flagged_on_the_cdr_and_in_reconciliation(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """A charger whose clock says 2000, and a stop before its start: the CDR is still
    written (nothing is lost) with notes, and an operator sees it in reconciliation."""
    station, queue = unique("CP"), unique("q")
    await seed_station(sqlite_db, station, site_id="site-ws")
    start = await seed_transaction(
        sqlite_db, station, site_id="site-ws", started_at=datetime(2000, 1, 1, 12, tzinfo=UTC)
    )
    stop = SessionStopped(start.transaction_id, 2000, datetime(2000, 1, 1, 11, tzinfo=UTC))
    async with build_worker(time_skipping.client, sqlite_db, queue):
        cdr = await (await _start(time_skipping, start, queue, "stopped", stop)).result()
    timing = [n for n in cdr.notes if n.startswith("implausible time")]
    assert len(timing) == 2, cdr.notes
    assert any("31 days before it was received" in n for n in timing)
    assert any("before the start" in n for n in timing)
    async with sqlite_db.sessions() as session:
        items = await reconciliation.list_items(session, station_id=station)
    assert [i.kind for i in items] == ["ImplausibleTimes"]
