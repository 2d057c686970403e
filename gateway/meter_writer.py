"""Meter samples to the database by group commit: telemetry goes in bulk, never to Temporal.

A handler awaits :meth:`MeterSampleWriter.write`, which returns once its rows
are committed, so a charger is answered only for samples that are stored. Rows
from every connection that arrive while one INSERT runs go together into the
next: under load, batches grow on their own; when idle, a write goes at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from activities.persistence.database import Database
from activities.persistence.repositories import meter_samples

log = logging.getLogger(__name__)


class MeterSampleWriter:
    """Batches concurrent writers' sample rows into shared INSERT statements."""

    def __init__(self, db: Database, *, max_batch: int = 5_000) -> None:
        self._db = db
        self._max_batch = max_batch
        self._buffer: list[dict[str, Any]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.batches = 0

    async def write(self, rows: list[dict[str, Any]]) -> None:
        """Queue rows and wait until they are committed (raises if the write failed)."""
        if not rows:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer.extend(rows)
        self._waiters.append(waiter)
        self._wake.set()
        await waiter

    async def flush(self) -> None:
        """Write everything queued so far (used before a stop event is recorded)."""
        async with self._lock:
            while self._buffer:
                batch, self._buffer = self._buffer, []
                waiters, self._waiters = self._waiters, []
                try:
                    for start in range(0, len(batch), self._max_batch):
                        async with self._db.sessions.begin() as session:
                            await meter_samples.add_samples(
                                session, batch[start : start + self._max_batch]
                            )
                except Exception as exc:
                    # Not acknowledged, so not lost: the chargers get an error and resend.
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    raise
                self.written += len(batch)
                self.batches += 1
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)

    def start(self) -> None:
        """Start writing as rows arrive."""
        self._task = asyncio.create_task(self._run(), name="meter-writer")

    async def stop(self) -> None:
        """Stop, writing what is left."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("meter sample write failed; the chargers were told")
                await asyncio.sleep(0.5)
