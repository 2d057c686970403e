"""Delivers lifecycle events from the database outbox to Temporal.

Events are written in the same database transaction as the change that caused
them, so a gateway crash or a Temporal outage loses none: the relay retries
until Temporal accepts. Delivery is at-least-once; the workflows make
duplicates harmless (signal-with-start on a business-key id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.converter import value_to_type
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.persistence.database import Database
from activities.persistence.models import OutboxEvent
from activities.persistence.repositories import outbox
from gateway.timestamps import utcnow
from workflows.charging_session import ChargingSessionWorkflow, initial_search_attributes
from workflows.client import TemporalLink
from workflows.domain import SessionProgress, SessionStarted, SessionStopped

log = logging.getLogger(__name__)

SESSION_STARTED = "session.started"
SESSION_STOPPED = "session.stopped"
ORPHAN_AGE = timedelta(seconds=30)
"""Events of another node older than this are taken over (that node may be gone)."""


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
        batch: int = 200,
        concurrency: int = 64,
        sweep_interval_s: float = 5.0,
    ) -> None:
        self._db = db
        self._link = link
        self._node_id = node_id
        self._task_queue = task_queue
        self._batch = batch
        self._concurrency = asyncio.Semaphore(concurrency)
        self._sweep_interval = sweep_interval_s
        self._queue: asyncio.Queue[PendingEvent] = asyncio.Queue(maxsize=50_000)
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0

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
        still on the fast path), this node's and those of nodes that may be gone.
        """
        cutoff = utcnow() - timedelta(seconds=self._sweep_interval)
        delivered = 0
        while True:
            async with self._db.sessions() as session:
                rows = await outbox.pending(session, created_before=cutoff, limit=self._batch)
            orphan = utcnow() - ORPHAN_AGE
            mine = [
                PendingEvent.of(r)
                for r in rows
                if r.node_id == self._node_id or r.created_at < orphan
            ]
            if not mine:
                return delivered
            done = await self._deliver_batch(mine)
            delivered += done
            if len(rows) < self._batch or done == 0:
                return delivered

    async def _deliver_batch(self, batch: list[PendingEvent]) -> int:
        client = await self._link.client()
        results = await asyncio.gather(*(self._deliver(client, e) for e in batch))
        done = [e.id for e, error in zip(batch, results, strict=True) if error is None]
        async with self._db.sessions.begin() as session:
            await outbox.remove_delivered(session, done)
            for event, error in zip(batch, results, strict=True):
                if error is not None:
                    await outbox.mark_failed(session, event.id, error)
        self.delivered += len(done)
        errors = [e for e in results if e is not None]
        if errors:
            # Kept for the sweep; one bad event must not hold the others back.
            log.warning("%d outbox events not delivered, e.g. %s", len(errors), errors[0])
        return len(done)

    async def _deliver(self, client: Client, row: PendingEvent) -> str | None:
        async with self._concurrency:
            try:
                await self._send(client, row)
            except WorkflowAlreadyStartedError:
                pass  # the session already finished: the event has nothing left to do
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"
            return None

    async def _send(self, client: Client, row: PendingEvent) -> None:
        start = value_to_type(SessionStarted, row.payload["start"])
        if row.kind == SESSION_STARTED:
            signal, arg = "started", start
        elif row.kind == SESSION_STOPPED:
            signal, arg = "stopped", value_to_type(SessionStopped, row.payload["stop"])
        else:
            log.error("unknown outbox event kind %s (id %s) skipped", row.kind, row.id)
            return
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


async def signal_workflow(link: TemporalLink, workflow_id: str, signal: str, *args: Any) -> None:
    """Best-effort signal (the state it announces is already in the database)."""
    try:
        client = await link.client()
        await client.get_workflow_handle(workflow_id).signal(signal, args=list(args))
    except Exception as exc:
        log.debug("signal %s to %s not delivered: %s", signal, workflow_id, exc)


async def send_progress(link: TemporalLink, workflow_id: str, progress: SessionProgress) -> None:
    """Best-effort progress signal: losing one is harmless, so it skips the outbox."""
    try:
        client = await link.client()
        await client.get_workflow_handle(workflow_id).signal(
            ChargingSessionWorkflow.progress, progress
        )
    except Exception as exc:
        log.debug("progress for %s not delivered: %s", workflow_id, exc)
