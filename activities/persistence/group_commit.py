"""Group commit: many small writes from concurrent callers share one transaction.

Under a reconnect storm thousands of stations each need a registry upsert and
a boot update; one transaction (and on SQLite one fsync-free commit behind a
single writer) per batch instead of per call multiplies throughput, and each
caller still returns only once its write is committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.database import Database

log = logging.getLogger(__name__)

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[Any]]


class GroupCommit:
    """Runs submitted writes in shared transactions, in arrival order."""

    def __init__(self, db: Database, *, max_batch: int = 500) -> None:
        self._db = db
        self._max_batch = max_batch
        self._queue: list[tuple[Work, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.batches = 0

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``work`` in the next shared transaction; return its result once committed."""
        if self._task is None:  # not started (e.g. in a short-lived tool): run alone
            async with self._db.sessions.begin() as session:
                return await work(session)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        self._wake.set()
        return await future

    def start(self) -> None:
        """Start committing as work arrives."""
        self._task = asyncio.create_task(self._loop(), name="group-commit")

    async def stop(self) -> None:
        """Commit what is queued, then stop (a batch in flight is never abandoned)."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            await task
        while self._queue:
            await self._commit_batch()

    async def _loop(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                await self._commit_batch()

    async def _commit_batch(self) -> None:
        batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
        try:
            results = []
            async with self._db.sessions.begin() as session:
                for work, _ in batch:
                    results.append(await work(session))
        except Exception:
            # One bad write must not fail the others: retry each on its own.
            for work, future in batch:
                try:
                    async with self._db.sessions.begin() as session:
                        result = await work(session)
                except Exception as exc:
                    if not future.done():
                        future.set_exception(exc)
                else:
                    if not future.done():
                        future.set_result(result)
            return
        self.batches += 1
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
