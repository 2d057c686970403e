"""Group commit: many small writes from concurrent callers share one transaction.

Under a reconnect storm thousands of stations each need a registry upsert and
a boot update; one transaction (and on SQLite one fsync-free commit behind a
single writer) per batch instead of per call multiplies throughput, and each
caller still returns only once its write is committed.

The hottest statements go one step further: a *batched operation* receives the
items of every caller in the batch at once and serves them with one statement
(an ``IN`` query, an executemany), so a connect storm costs one statement per
batch instead of one per station, and the meter samples of every connection
that arrive while one batch commits go into the next one's single INSERT.

This is the gateway's one write queue (registry, boots, message log, meter
samples): one set of rules for batching, ordering and isolating a bad write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.database import Database

log = logging.getLogger(__name__)

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - the item type of a batched operation
Work = Callable[[AsyncSession], Awaitable[Any]]
# Given the items of several callers, returns one result per item, in order.
BatchedOperation = Callable[[AsyncSession, Sequence[I]], Awaitable[Sequence[T]]]


@dataclass(slots=True)
class _Entry:
    """One caller's request: a plain work, or an item for a batched operation."""

    future: asyncio.Future[Any]
    work: Work | None = None
    operation: BatchedOperation[Any, Any] | None = None
    item: Any = None
    # The caller's trace context: its work runs in it (an outbox row made there carries
    # the caller's trace on), though the shared transaction runs in another task.
    trace: otel_context.Context = field(default_factory=otel_context.get_current)

    async def run_alone(self, session: AsyncSession) -> Any:
        if self.operation is not None:
            return (await self.operation(session, [self.item]))[0]
        assert self.work is not None
        token = otel_context.attach(self.trace)
        try:
            return await self.work(session)
        finally:
            otel_context.detach(token)


async def _nothing(session: AsyncSession) -> None:
    """The work of :meth:`GroupCommit.flush` (no statement: no connection is taken)."""


class GroupCommit:
    """Runs submitted writes in shared transactions, in arrival order."""

    def __init__(self, db: Database, *, max_batch: int = 500, on_demand: bool = False) -> None:
        """``on_demand``: no long-lived task (no :meth:`start`/:meth:`stop`); a commit
        runs while work waits, and what arrives during one batch forms the next (the
        worker's settlements, whose owner has no lifecycle of its own)."""
        self._db = db
        self._max_batch = max_batch
        self._on_demand = on_demand
        self._queue: list[_Entry] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.batches = 0

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``work`` in the next shared transaction; return its result once committed."""
        if self._task is None and not self._on_demand:
            # Not started (e.g. in a short-lived tool): run alone.
            async with self._db.sessions.begin() as session:
                return await work(session)
        return await self._submit(_Entry(self._future(), work=work))

    async def run_batched(self, operation: BatchedOperation[I, T], item: I) -> T:
        """Give ``item`` to ``operation``, which serves every caller of the batch at once.

        Items of one batch must be independent of each other (no caller waits for
        another's); the operation runs at the place of its first item in the batch.
        Operations that use Core statements on ``session.connection()`` do not flush
        the session first: plain works of the batch must not leave pending ORM
        objects the operation would need to see.
        """
        entry = _Entry(self._future(), operation=operation, item=item)
        if self._task is None and not self._on_demand:
            async with self._db.sessions.begin() as session:
                return await entry.run_alone(session)
        return await self._submit(entry)

    async def flush(self) -> None:
        """Return once everything submitted before this call is committed (or failed).

        Batches commit in arrival order, so an empty work queued now commits with or
        after every earlier write, including a batch already in flight.
        """
        await self.run(_nothing)

    @staticmethod
    def _future() -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    async def _submit(self, entry: _Entry) -> Any:
        self._queue.append(entry)
        if self._on_demand and self._task is None:
            self._task = asyncio.create_task(self._drain(), name="group-commit")
        self._wake.set()
        return await entry.future

    async def _drain(self) -> None:
        try:
            while self._queue:
                await self._commit_batch()
        finally:
            self._task = None

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
        # Each batched operation's entries, so that it runs once, at its first entry.
        members: dict[BatchedOperation[Any, Any], list[_Entry]] = {}
        for entry in batch:
            if entry.operation is not None:
                members.setdefault(entry.operation, []).append(entry)
        results: dict[int, Any] = {}
        try:
            async with self._db.sessions.begin() as session:
                for entry in batch:
                    if entry.operation is None:
                        results[id(entry)] = await entry.run_alone(session)
                    elif members[entry.operation][0] is entry:
                        group = members[entry.operation]
                        answers = await entry.operation(session, [e.item for e in group])
                        for member, answer in zip(group, answers, strict=True):
                            results[id(member)] = answer
        except Exception:
            # One bad write must not fail the others: retry each on its own.
            for entry in batch:
                try:
                    async with self._db.sessions.begin() as session:
                        result = await entry.run_alone(session)
                except Exception as exc:
                    if not entry.future.done():
                        entry.future.set_exception(exc)
                else:
                    if not entry.future.done():
                        entry.future.set_result(result)
            return
        self.batches += 1
        for entry in batch:
            if not entry.future.done():
                entry.future.set_result(results[id(entry)])
