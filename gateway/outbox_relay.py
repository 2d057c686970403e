"""Delivers lifecycle events from the database outbox to Temporal.

Events are written in the same database transaction as the change that caused
them, so a gateway crash or a Temporal outage loses none: the relay retries
until Temporal accepts. Delivery is at-least-once; the workflows make
duplicates harmless (signal-with-start on a business-key id).

When a session's start and its stop both wait in one batch (Temporal fell
behind, came back from an outage, or a charger uploaded an offline session),
one signal-with-start of the stop delivers both: the workflow's input is the
start, so it settles in a single workflow task. A backlog thus costs Temporal
half the calls and tasks it would otherwise, and drains faster for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opentelemetry import propagate, trace
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.converter import value_to_type
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.persistence.database import Database
from activities.persistence.models import OutboxEvent
from activities.persistence.repositories import cdrs, outbox, reconciliation, transactions
from activities.temporal_link import TemporalLink
from gateway.metrics import GatewayMetrics
from gateway.timestamps import utcnow
from workflows import search_attributes as sa
from workflows.charging_session import ChargingSessionWorkflow, initial_search_attributes
from workflows.domain import SessionStarted, SessionStopped
from workflows.health import HealthInput, HealthSettings, StationFact
from workflows.station_health import StationHealthWorkflow

log = logging.getLogger(__name__)
TRACER = trace.get_tracer("csms.gateway")

SESSION_STARTED = "session.started"
SESSION_STOPPED = "session.stopped"
STATION_FACT = "station.fact"
"""A fact for the station's health workflow (see :mod:`gateway.health_facts`)."""
ORPHAN_AGE = timedelta(seconds=30)
"""Events of another node older than this are taken over (that node may be gone)."""


class UndeliverableEvent(Exception):
    """An outbox row that no retry can deliver (it does not decode, or names no kind)."""


@dataclass(frozen=True)
class Failure:
    """Why an event was not delivered, and whether trying again can help."""

    reason: str
    permanent: bool


_PERMANENT_RPC = frozenset({RPCStatusCode.INVALID_ARGUMENT})

CLOSED = Failure("the workflow has closed", permanent=False)
"""The outcome of an event whose session workflow had already closed."""


async def _closed_session(session: AsyncSession, event: PendingEvent) -> None:
    """An event for a session whose workflow has closed: harmless if the session's CDR
    already holds it (a redelivery after a crash), else kept in reconciliation (e.g. a
    stop that came after the session was closed for want of one)."""
    start = value_to_type(SessionStarted, event.payload["start"])
    tx = (
        await transactions.get_transaction(session, start.transaction_pk)
        if start.transaction_pk is not None
        else await transactions.get_by_ref(session, start.station_id, start.transaction_id)
    )
    cdr = await cdrs.get_for_transaction(session, tx.id) if tx is not None else None
    stop = event.payload.get("stop")
    if cdr is not None and (
        stop is None or value_to_type(SessionStopped, stop).stopped_at == cdr.stopped_at
    ):
        return
    reconciliation.add_item(
        session,
        station_id=start.station_id,
        kind="EventForClosedSession",
        payload={"kind": event.kind, "workflow_id": event.workflow_id, **event.payload},
        note=f"{event.kind} for transaction {start.transaction_id} reached its workflow "
        f"{event.workflow_id} after it closed"
        + ("" if cdr is None else f" (CDR {cdr.id} ends at {cdr.stopped_at.isoformat()})"),
    )


@dataclass(frozen=True)
class PendingEvent:
    """An outbox row's content, handed to the relay once its transaction committed."""

    id: int
    kind: str
    workflow_id: str
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: OutboxEvent) -> PendingEvent:
        """The event of a committed outbox row."""
        return cls(row.id, row.kind, row.workflow_id, row.payload)


def deliveries(batch: list[PendingEvent]) -> list[list[PendingEvent]]:
    """The batch as calls to Temporal: each list is delivered by one call, its first
    event's, and shares that call's outcome.

    A session's starts in the same batch as its stop ride along with the stop's call
    (its signal-with-start carries the start as the workflow's input), when the
    gateway marked the session's workflow as one that runs with its start as input
    and the stop decodes. Never for a session a remote start began: its workflow is
    already running with the request and learns its transaction only from
    ``started``. Every other event is a call of its own.
    """
    facts: dict[str, list[PendingEvent]] = {}
    for event in batch:
        if event.kind == STATION_FACT:
            facts.setdefault(event.workflow_id, []).append(event)
    stops: dict[str, PendingEvent] = {}
    for event in batch:
        if event.kind == SESSION_STOPPED and event.workflow_id not in stops:
            stops[event.workflow_id] = event
    # Each coalescible session's call: its stop first, then its starts.
    merged = {wid: [stop] for wid, stop in stops.items() if _coalescible(stop)}
    calls: list[list[PendingEvent]] = []
    placed: set[str] = set()
    for event in batch:
        if event.kind == STATION_FACT:
            # A station's facts go in order, one call after the other, in one delivery.
            if event.workflow_id not in placed:
                placed.add(event.workflow_id)
                calls.append(facts[event.workflow_id])
            continue
        group = merged.get(event.workflow_id)
        if group is None or (event.kind != SESSION_STARTED and event is not group[0]):
            calls.append([event])  # alone: other kinds and repeated stops too
            continue
        if event is not group[0]:
            group.append(event)
        if event.workflow_id not in placed:  # the call goes where the session first appears
            placed.add(event.workflow_id)
            calls.append(group)
    return calls


INPUT_IS_START = "input_is_start"
"""Payload key: the session's workflow runs with the event's start as input."""


def _coalescible(stop: PendingEvent) -> bool:
    """Whether a stop's call can deliver its session's start too: the gateway said the
    workflow's input is the start (rows of earlier versions do not say: not merged),
    and the stop decodes (a stop that is dead-lettered takes no start with it)."""
    if stop.payload.get(INPUT_IS_START) is not True:
        return False
    try:
        _decoded(stop)
    except UndeliverableEvent:
        return False
    return True


class OutboxRelay:
    """Delivers committed events at once, and sweeps the table for any left behind.

    The fast path takes events from memory (no query); the sweep finds what the
    fast path could not deliver (Temporal down, a crash between commit and
    delivery, another node that died) and retries it.
    """

    def __init__(
        self,
        db: Database,
        link: TemporalLink,
        *,
        node_id: str,
        task_queue: str,
        batch: int = 1000,
        concurrency: int = 64,
        sweep_interval_s: float = 5.0,
        health: HealthSettings | None = None,
    ) -> None:
        self._db = db
        self._link = link
        self._node_id = node_id
        self._task_queue = task_queue
        self._batch = batch
        self._concurrency = asyncio.Semaphore(concurrency)
        self._sweep_interval = sweep_interval_s
        self._health = health or HealthSettings()
        self._queue: asyncio.Queue[PendingEvent] = asyncio.Queue(maxsize=50_000)
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.metrics: GatewayMetrics | None = None
        self.calls = 0
        """Calls made to Temporal for the delivered session events (fewer when some
        coalesced)."""
        self.fact_calls = 0
        """Deliveries of health facts (one per station and batch, its facts in order)."""

    def submit(self, row: OutboxEvent) -> None:
        """Deliver a committed event soon; if memory is short, the sweep will find it."""
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(PendingEvent.of(row))

    def start(self) -> None:
        """Start the delivery loop."""
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop the delivery loop; undelivered events stay in the outbox."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        next_sweep = 0.0
        backoff = 0.5
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() >= next_sweep:
                    await self.sweep()
                    next_sweep = loop.time() + self._sweep_interval
                batch = await self._take(timeout=max(0.0, next_sweep - loop.time()))
                if batch:
                    await self._deliver_batch(batch)
                backoff = 0.5
            except Exception as exc:
                log.warning("outbox delivery paused: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 15.0)

    async def _take(self, timeout: float) -> list[PendingEvent]:
        with contextlib.suppress(TimeoutError):
            first = await asyncio.wait_for(self._queue.get(), timeout)
            batch = [first]
            while len(batch) < self._batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            return batch
        return []

    async def sweep(self) -> int:
        """Deliver stored events the fast path missed; returns how many were delivered.

        Only events older than the sweep interval are taken (younger ones are
        still on the fast path), this node's and those of nodes that may be gone,
        page by page in id order: a page that fails does not stop the pages after it.
        """
        cutoff = utcnow() - timedelta(seconds=self._sweep_interval)
        delivered, after = 0, 0
        if self.metrics is not None:
            async with self._db.sessions() as session:
                depth = await outbox.depth(session, self._node_id)
            self.metrics.outbox_depth.set(depth)
        while True:
            async with self._db.sessions() as session:
                rows = await outbox.pending(
                    session,
                    node_id=self._node_id,
                    orphaned_before=utcnow() - ORPHAN_AGE,
                    created_before=cutoff,
                    after_id=after,
                    limit=self._batch,
                )
            if not rows:
                return delivered
            delivered += await self._deliver_batch([PendingEvent.of(r) for r in rows])
            if len(rows) < self._batch:
                return delivered
            after = rows[-1].id

    async def _deliver_batch(self, batch: list[PendingEvent]) -> int:
        client = await self._link.client()
        calls = deliveries(batch)
        results = await asyncio.gather(*(self._deliver(client, call) for call in calls))
        facts = sum(call[0].kind == STATION_FACT for call in calls)
        self.calls += len(calls) - facts
        self.fact_calls += facts
        pairs = [
            (event, failure) for call, failure in zip(calls, results, strict=True) for event in call
        ]
        closed = [e for e, failure in pairs if failure is CLOSED]
        failures = [(e, f) for e, f in pairs if f is not None and f is not CLOSED]
        async with self._db.sessions.begin() as session:
            for event in closed:
                try:  # one bad row must not undo the batch's bookkeeping
                    async with session.begin_nested():
                        await _closed_session(session, event)
                except Exception as exc:
                    # Not kept in reconciliation: kept in the outbox, tried again later.
                    log.warning("event %s for a closed session not kept yet: %s", event.id, exc)
                    failures.append((event, Failure(f"{type(exc).__name__}: {exc}", False)))
            kept = {e.id for e, _ in failures}
            done = [e.id for e, f in pairs if (f is None or f is CLOSED) and e.id not in kept]
            await outbox.remove_delivered(session, done)
            for event, failure in failures:
                if failure.permanent:
                    await outbox.mark_dead(session, event.id, failure.reason, utcnow())
                else:
                    await outbox.mark_failed(session, event.id, failure.reason)
        self.delivered += len(done)
        if self.metrics is not None:
            self.metrics.outbox_delivered.inc(len(done))
        if failures:
            # Kept for the sweep (or dead-lettered); one bad event must not hold the others.
            dead = sum(f.permanent for _, f in failures)
            log.warning(
                "%d outbox events not delivered (%d dead-lettered), e.g. %s",
                len(failures),
                dead,
                failures[0][1].reason,
            )
        return len(done)

    async def _deliver(self, client: Client, call: list[PendingEvent]) -> Failure | None:
        async with self._concurrency:
            try:
                if call[0].kind == STATION_FACT:
                    for fact in call:
                        with _traced(fact):
                            await self._send_fact(client, fact)
                else:
                    with _traced(call[0]):
                        await self._send(client, call[0])
            except UndeliverableEvent as exc:
                return Failure(str(exc), permanent=True)
            except WorkflowAlreadyStartedError:
                # The session's workflow has closed: never dropped (see _closed_session).
                return CLOSED
            except RPCError as exc:
                # INVALID_ARGUMENT and the like will never succeed as sent.
                permanent = exc.status in _PERMANENT_RPC
                return Failure(f"{type(exc).__name__}: {exc}", permanent=permanent)
            except Exception as exc:
                return Failure(f"{type(exc).__name__}: {exc}", permanent=False)
            return None

    async def _send_fact(self, client: Client, row: PendingEvent) -> None:
        """Signal-with-start of the station's health workflow."""
        try:
            fact = value_to_type(StationFact, row.payload["fact"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UndeliverableEvent(f"event {row.id} does not decode: {exc!r}"[:500]) from None
        await client.start_workflow(
            StationHealthWorkflow.run,
            HealthInput(fact.station_id, self._health),
            id=row.workflow_id,
            task_queue=self._task_queue,
            start_signal="fact",
            start_signal_args=[fact],
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.STATION_ID, fact.station_id)]
            ),
            static_summary=f"Health of station {fact.station_id}",
        )

    async def _send(self, client: Client, row: PendingEvent) -> None:
        start, signal, arg = _decoded(row)
        await client.start_workflow(
            ChargingSessionWorkflow.run,
            start,
            id=row.workflow_id,
            task_queue=self._task_queue,
            start_signal=signal,
            start_signal_args=[arg],
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=initial_search_attributes(start),
            static_summary=(
                f"Charging session {start.transaction_id} on {start.station_id} "
                f"connector {start.connector_id}"
            ),
        )


def _traced(event: PendingEvent) -> AbstractContextManager[object]:
    """A delivery's span, in the trace of the message that caused the event."""
    carrier = event.payload.get(outbox.TRACE)
    parent = propagate.extract(carrier) if isinstance(carrier, dict) else None
    return TRACER.start_as_current_span(f"outbox deliver {event.kind}", context=parent)


def _decoded(row: PendingEvent) -> tuple[SessionStarted, str, SessionStarted | SessionStopped]:
    """The event's workflow input, signal and signal argument (UndeliverableEvent if it
    does not decode: no retry can help)."""
    try:
        start = value_to_type(SessionStarted, row.payload["start"])
        if row.kind == SESSION_STARTED:
            return start, "started", start
        if row.kind == SESSION_STOPPED:
            return start, "stopped", value_to_type(SessionStopped, row.payload["stop"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UndeliverableEvent(f"event {row.id} does not decode: {exc!r}"[:500]) from None
    raise UndeliverableEvent(f"unknown outbox event kind {row.kind!r}")


async def signal_workflow(link: TemporalLink, workflow_id: str, signal: str, *args: Any) -> None:
    """Best-effort signal (the state it announces is already in the database)."""
    try:
        client = await link.client()
        await client.get_workflow_handle(workflow_id).signal(signal, args=list(args))
    except Exception as exc:
        log.debug("signal %s to %s not delivered: %s", signal, workflow_id, exc)
