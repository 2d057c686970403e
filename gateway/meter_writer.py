"""Meter samples to the database by group commit: telemetry goes in bulk, never to Temporal.

A handler awaits :meth:`MeterSampleWriter.write`, which returns once its rows
are committed, so a charger is answered only for samples that are stored. Rows
from every connection that arrive while one INSERT runs go together into the
next: under load, batches grow on their own; when idle, a write goes at once.
If a shared batch fails, each caller's rows are retried alone, so one bad
message fails only its own sender.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from activities.persistence.database import Database
from activities.persistence.repositories import meter_samples

log = logging.getLogger(__name__)

Rows = list[dict[str, Any]]


class MeterSampleWriter:
    """Batches concurrent writers' sample rows into shared INSERT statements."""

    def __init__(self, db: Database, *, max_batch: int = 5_000) -> None:
        self._db = db
        self._max_batch = max_batch
        self._pending: list[tuple[Rows, asyncio.Future[None] | None]] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.batches = 0

    async def write(self, rows: Rows) -> None:
        """Queue rows and wait until they are committed (raises if the write failed)."""
        if not rows:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, waiter))
        self._wake.set()
        await waiter

    async def flush(self) -> None:
        """Write everything queued so far (used before a stop event is recorded)."""
        async with self._lock:
            while self._pending:
                batch = self._take()
                try:
                    await self._insert([row for rows, _ in batch for row in rows])
                    self._settle(batch, None)
                except Exception:
                    # One caller's bad rows must not fail the others: retry each alone.
                    for rows, waiter in batch:
                        try:
                            await self._insert(rows)
                            self._settle([(rows, waiter)], None)
                        except Exception as exc:
                            log.warning("meter samples refused: %s", exc)
                            self._settle([(rows, waiter)], exc)

    def _take(self) -> list[tuple[Rows, asyncio.Future[None] | None]]:
        batch: list[tuple[Rows, asyncio.Future[None] | None]] = []
        size = 0
        while self._pending and (not batch or size + len(self._pending[0][0]) <= self._max_batch):
            item = self._pending.pop(0)
            batch.append(item)
            size += len(item[0])
        return batch

    async def _insert(self, rows: Rows) -> None:
        async with self._db.sessions.begin() as session:
            await meter_samples.add_samples(session, rows)
        self.written += len(rows)
        self.batches += 1

    @staticmethod
    def _settle(
        batch: list[tuple[Rows, asyncio.Future[None] | None]], error: Exception | None
    ) -> None:
        for _, waiter in batch:
            if waiter is None or waiter.done():
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    def start(self) -> None:
        """Start writing as rows arrive."""
        self._task = asyncio.create_task(self._run(), name="meter-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop (a batch in flight is never abandoned)."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self.flush()

    async def _run(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
