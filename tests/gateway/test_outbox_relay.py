"""The outbox relay: paging, node filtering and dead letters against a real Temporal dev
server; how a batch becomes calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from temporalio.testing import WorkflowEnvironment

from activities.persistence.database import Database
from activities.persistence.models import OutboxEvent
from activities.persistence.repositories import outbox
from activities.persistence.types import to_json
from activities.temporal_link import TemporalLink
from gateway.outbox_relay import (
    INPUT_IS_START,
    SESSION_STARTED,
    SESSION_STOPPED,
    OutboxRelay,
    PendingEvent,
    deliveries,
)
from tests.conftest import unique
from workflows.domain import (
    SessionStarted,
    SessionStopped,
    remote_session_workflow_id,
    session_workflow_id,
)


def _start(station: str, tx: str) -> SessionStarted:
    return SessionStarted(
        station_id=station,
        site_id=None,
        connector_id=1,
        transaction_id=tx,
        id_token=None,
        meter_start_wh=0,
        started_at=datetime(2026, 11, 1, tzinfo=UTC),
    )


async def test_undecodable_rows_are_dead_lettered_and_do_not_block_the_rest(
    db: Database, temporal_dev: WorkflowEnvironment
) -> None:
    """Four pages of broken rows of this node, another node's fresh rows, then one good
    event: the good one is delivered in the same sweep, the broken ones dead-lettered
    (and not tried again), the other node's left alone."""
    node, station = unique("gw"), unique("OBX")
    good_id = session_workflow_id(station, "T-GOOD")
    async with db.sessions.begin() as session:
        for i in range(40):
            outbox.enqueue(
                session, node_id=node, kind=SESSION_STARTED, workflow_id=f"bad-{i}", payload={}
            )
        for i in range(30):
            outbox.enqueue(
                session,
                node_id=unique("other"),
                kind=SESSION_STARTED,
                workflow_id=f"theirs-{i}",
                payload={"start": to_json(_start(station, f"T-{i}"))},
            )
        good = outbox.enqueue(
            session,
            node_id=node,
            kind=SESSION_STARTED,
            workflow_id=good_id,
            payload={"start": to_json(_start(station, "T-GOOD"))},
        )
        await session.flush()
        good_pk = good.id
    async with db.sessions.begin() as session:  # old enough for the sweep, not orphaned
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.created_at > datetime.now(UTC) - timedelta(minutes=1))
            .values(created_at=datetime.now(UTC) - timedelta(seconds=10))
        )
    relay = OutboxRelay(
        db,
        TemporalLink.of(temporal_dev.client),
        node_id=node,
        task_queue=unique("no-worker"),
        batch=10,
        sweep_interval_s=1.0,
    )
    assert await relay.sweep() == 1
    described = await temporal_dev.client.get_workflow_handle(good_id).describe()
    assert described.id == good_id
    async with db.sessions() as session:
        left = (await session.scalars(select(OutboxEvent).where(OutboxEvent.node_id == node))).all()
        dead = await outbox.dead_letters(session, limit=10_000)
    assert good_pk not in {r.id for r in left}
    assert len(left) == 40 and all(r.dead_at is not None for r in left)
    assert all("does not decode" in (r.last_error or "") for r in left)
    assert {r.id for r in left} <= {d.id for d in dead}
    # The next sweep does not try the dead letters again.
    assert await relay.sweep() == 0
    async with db.sessions() as session:
        attempts = (
            await session.scalars(select(OutboxEvent.attempts).where(OutboxEvent.node_id == node))
        ).all()
    assert set(attempts) == {1}
    async with db.sessions.begin() as session:  # leave the shared table clean
        await session.execute(
            delete(OutboxEvent).where(
                OutboxEvent.workflow_id.like("theirs-%") | (OutboxEvent.node_id == node)
            )
        )


def _pending(
    pk: int, kind: str, workflow_id: str, station: str, tx: str, *, input_is_start: bool = True
) -> PendingEvent:
    payload: dict[str, Any] = {"start": to_json(_start(station, tx))}
    if input_is_start:
        payload[INPUT_IS_START] = True
    if kind == SESSION_STOPPED:
        stop = SessionStopped(transaction_id=tx, meter_stop_wh=10, stopped_at=datetime.now(UTC))
        payload["stop"] = to_json(stop)
    return PendingEvent(pk, kind, workflow_id, payload)


def test_a_sessions_start_and_stop_in_one_batch_are_one_call() -> None:
    """Start and stop of a session: one call, the stop's, covering both (a reused 2.x id's
    later session too). Each of these stays a call of its own: a remote start's session
    (the gateway says its input is the request, not the start: it learns the
    transaction only from ``started``), rows of earlier versions that do not say, an
    event of a kind this version does not know, a stop that does not decode (its start
    is not dead-lettered with it), and undecodable rows. First-appearance order holds."""
    a, reused = session_workflow_id("S1", "1"), session_workflow_id("S1", "TX") + "~42"
    remote = remote_session_workflow_id("S1", 7)
    old, odd, bad = (session_workflow_id("S1", t) for t in ("3", "4", "5"))
    broken_stop = _pending(14, SESSION_STOPPED, bad, "S1", "5")
    del broken_stop.payload["stop"]
    batch = [
        _pending(1, SESSION_STARTED, a, "S1", "1"),
        _pending(2, SESSION_STARTED, remote, "S1", "9", input_is_start=False),
        _pending(3, SESSION_STARTED, reused, "S1", "TX"),
        PendingEvent(4, SESSION_STOPPED, "broken", {}),
        _pending(5, SESSION_STOPPED, a, "S1", "1"),
        _pending(6, SESSION_STOPPED, remote, "S1", "9", input_is_start=False),
        _pending(7, SESSION_STOPPED, reused, "S1", "TX"),
        _pending(8, SESSION_STARTED, session_workflow_id("S1", "2"), "S1", "2"),
        _pending(9, SESSION_STOPPED, a, "S1", "1"),  # a repeated stop: sent on its own
        _pending(10, SESSION_STARTED, old, "S1", "3", input_is_start=False),
        _pending(11, SESSION_STOPPED, old, "S1", "3", input_is_start=False),
        _pending(12, "session.someday", odd, "S1", "4"),
        _pending(13, SESSION_STOPPED, odd, "S1", "4"),
        _pending(15, SESSION_STARTED, bad, "S1", "5"),
        broken_stop,
    ]
    calls = [[e.id for e in call] for call in deliveries(batch)]
    assert calls == [
        [5, 1],
        [2],
        [7, 3],
        [4],
        [6],
        [8],
        [9],
        [10],
        [11],
        [12],
        [13],
        [15],
        [14],
    ]
