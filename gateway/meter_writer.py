"""Batched meter-sample writer: telemetry goes to the database in bulk, never to Temporal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from activities.persistence.database import Database
from activities.persistence.repositories import meter_samples

log = logging.getLogger(__name__)

MAX_BUFFERED = 200_000
"""Rows kept while the database is unreachable; beyond this the oldest are dropped."""


class MeterSampleWriter:
    """Collects sample rows and writes them every ``interval`` seconds in one statement."""

    def __init__(self, db: Database, *, interval_s: float = 0.25, max_batch: int = 5_000) -> None:
        self._db = db
        self._interval = interval_s
        self._max_batch = max_batch
        self._buffer: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Queue rows; returns at once."""
        self._buffer.extend(rows)
        if len(self._buffer) >= self._max_batch:
            self._wake.set()

    async def flush(self) -> None:
        """Write everything queued so far (used before a stop event is recorded)."""
        async with self._lock:
            while self._buffer:
                batch, self._buffer = (
                    self._buffer[: self._max_batch],
                    self._buffer[self._max_batch :],
                )
                try:
                    async with self._db.sessions.begin() as session:
                        await meter_samples.add_samples(session, batch)
                except Exception:
                    # Keep the rows for the next attempt; drop the oldest only under pressure.
                    self._buffer = (batch + self._buffer)[-MAX_BUFFERED:]
                    raise
                self.written += len(batch)

    def start(self) -> None:
        """Start the periodic flush."""
        self._task = asyncio.create_task(self._run(), name="meter-writer")

    async def stop(self) -> None:
        """Stop the periodic flush and write what is left."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("meter sample flush failed; %d rows kept", len(self._buffer))
                await asyncio.sleep(1.0)
