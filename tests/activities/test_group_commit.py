"""Group commit: concurrent writes share transactions; one failure spares the rest."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.database import Database
from activities.persistence.group_commit import GroupCommit
from activities.persistence.models import Site
from activities.persistence.repositories import sites
from tests.conftest import unique


async def test_concurrent_writes_share_transactions_and_all_commit(db: Database) -> None:
    writes = GroupCommit(db)
    writes.start()
    ids = [unique("gc") for _ in range(50)]

    def add(site_id: str) -> Callable[[AsyncSession], Awaitable[str]]:
        async def work(session: AsyncSession) -> str:
            session.add(
                Site(id=site_id, name=site_id, price_per_kwh=Decimal("0.1"), currency="EUR")
            )
            await session.flush()
            return site_id

        return work

    try:
        results = await asyncio.gather(*(writes.run(add(i)) for i in ids))
    finally:
        await writes.stop()
    assert results == ids
    assert writes.batches < len(ids), "writes were grouped"
    async with db.sessions() as session:
        stored = {s.id for s in await sites.list_sites(session)}
    assert set(ids) <= stored


async def test_a_failing_write_fails_alone(db: Database) -> None:
    writes = GroupCommit(db)
    writes.start()
    taken = unique("gc")
    async with db.sessions.begin() as session:
        await sites.create_site(session, taken, "x", Decimal(1), "EUR")

    async def duplicate(session: AsyncSession) -> None:
        session.add(Site(id=taken, name="dup", price_per_kwh=Decimal(1), currency="EUR"))
        await session.flush()

    fine = unique("gc")

    async def good(session: AsyncSession) -> str:
        await sites.create_site(session, fine, "ok", Decimal(1), "EUR")
        return fine

    try:
        bad, ok = await asyncio.gather(
            writes.run(duplicate), writes.run(good), return_exceptions=True
        )
    finally:
        await writes.stop()
    assert isinstance(bad, Exception) and ok == fine
    async with db.sessions() as session:
        assert await sites.get_site(session, fine) is not None


async def test_without_start_it_writes_directly(db: Database) -> None:
    site_id = unique("gc")

    async def work(session: AsyncSession) -> None:
        await sites.create_site(session, site_id, "direct", Decimal(1), "EUR")

    await GroupCommit(db).run(work)
    async with db.sessions() as session:
        assert await sites.get_site(session, site_id) is not None
    with pytest.raises(ZeroDivisionError):
        await GroupCommit(db).run(lambda session: asyncio.sleep(1 / 0))


async def test_a_batched_operation_serves_every_caller_of_a_batch_at_once(db: Database) -> None:
    writes = GroupCommit(db)
    writes.start()
    calls: list[list[int]] = []

    async def double(session: AsyncSession, items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        return [2 * i for i in items]

    try:
        results = await asyncio.gather(*(writes.run_batched(double, i) for i in range(100)))
    finally:
        await writes.stop()
    assert results == [2 * i for i in range(100)], "each caller gets its own answer"
    assert len(calls) < 100 and max(len(c) for c in calls) > 1
    assert sorted(i for c in calls for i in c) == list(range(100))


async def test_a_failing_item_of_a_batched_operation_fails_alone(db: Database) -> None:
    writes = GroupCommit(db)
    writes.start()
    seen: list[int] = []

    async def picky(session: AsyncSession, items: Sequence[int]) -> list[int]:
        if 13 in items:
            raise ValueError("13")
        seen.extend(items)
        return list(items)

    try:
        results = await asyncio.gather(
            *(writes.run_batched(picky, i) for i in (1, 13, 2)), return_exceptions=True
        )
    finally:
        await writes.stop()
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], ValueError)
    assert await GroupCommit(db).run_batched(picky, 5) == 5, "unstarted: runs alone"


async def test_flush_waits_for_the_batch_in_flight(db: Database) -> None:
    """A write already taken from the queue (its batch committing) is done before
    ``flush`` returns: a stop event recorded after the flush sees every sample."""
    writes = GroupCommit(db)
    writes.start()
    site_id = unique("gc")
    entered = asyncio.Event()

    async def slow(session: AsyncSession) -> None:
        entered.set()
        await asyncio.sleep(0.3)
        await sites.create_site(session, site_id, "slow", Decimal(1), "EUR")

    try:
        pending = asyncio.ensure_future(writes.run(slow))
        await entered.wait()  # in flight: no longer in the queue
        await writes.flush()
        assert pending.done()
        async with db.sessions() as session:
            assert await sites.get_site(session, site_id) is not None
    finally:
        await writes.stop()


async def test_on_demand_it_batches_while_work_waits_and_keeps_no_task(db: Database) -> None:
    writes = GroupCommit(db, on_demand=True)  # never started, never stopped
    ids = [unique("od") for _ in range(30)]

    async def add_all(session: AsyncSession, site_ids: Sequence[str]) -> list[str]:
        if "bad" in site_ids:
            raise ValueError("a bad item")
        session.add_all(
            Site(id=i, name=i, price_per_kwh=Decimal("0.1"), currency="EUR") for i in site_ids
        )
        await session.flush()
        return list(site_ids)

    results = await asyncio.gather(
        *(writes.run_batched(add_all, i) for i in [*ids[:15], "bad", *ids[15:]]),
        return_exceptions=True,
    )
    assert [r for r in results if isinstance(r, BaseException)] == [results[15]]
    assert isinstance(results[15], ValueError)
    assert [r for r in results if not isinstance(r, BaseException)] == ids
    assert writes._task is None  # the commit ran while there was work, then ended
    again = await asyncio.gather(*(writes.run_batched(add_all, unique("od")) for _ in range(5)))
    assert len(again) == 5 and writes._task is None
    async with db.sessions() as session:
        stored = await sites.get_sites(session, ids)
    assert sorted(stored) == sorted(ids)
