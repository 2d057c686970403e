"""Settlement: sessions that settle at the same time share one transaction, and one bad
request or another station's samples change nothing for the others."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError

from activities.persistence.database import Database
from activities.persistence.repositories import cdrs
from activities.sessions import SessionActivities, SettleRequest
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction, store_register
from workflows.domain import SessionStarted, SessionStopped


def _stop(start: SessionStarted, meter_stop_wh: int | None) -> SettleRequest:
    stopped = SessionStopped(
        start.transaction_id, meter_stop_wh, start.started_at + timedelta(hours=1), "Local"
    )
    return SettleRequest(start=start, stop=stopped)


async def test_concurrent_settlements_share_transactions_and_each_gets_its_own_cdr(
    db: Database,
) -> None:
    site = unique("site")
    stations = [unique("CP") for _ in range(12)]
    starts = []
    for n, station in enumerate(stations):
        await seed_station(db, station, site_id=site, price="0.50")
        starts.append(await seed_transaction(db, station, site_id=site, meter_start_wh=n * 100))
    activities = SessionActivities(db)
    records = await asyncio.gather(
        *(
            activities.settle_session(_stop(start, n * 100 + 2000 + 20 * n))
            for n, start in enumerate(starts)
        )
    )
    for n, (start, cdr) in enumerate(zip(starts, records, strict=True)):
        assert (cdr.station_id, cdr.transaction_id) == (start.station_id, start.transaction_id)
        assert cdr.energy_wh == 2000 + 20 * n
        assert cdr.total_cost == f"{1 + n / 100:.2f}"  # 0.50 per kWh
    assert activities._commits.batches < len(starts)  # shared, not one per session
    # Settling again (a retry after a crash) returns the same CDRs and writes none.
    again = await asyncio.gather(*(activities.settle_session(_stop(start, 1)) for start in starts))
    # (PostgreSQL gives the stored money back at its column scale: 1.000000 for 1.00.)
    assert [(c.energy_wh, Decimal(c.total_cost), c.notes) for c in again] == [
        (c.energy_wh, Decimal(c.total_cost), c.notes) for c in records
    ]
    async with db.sessions() as session:
        written = await cdrs.for_transactions(
            session, [s.transaction_pk for s in starts if s.transaction_pk is not None]
        )
    assert len(written) == len(starts)


async def test_a_request_for_another_stations_transaction_fails_alone(db: Database) -> None:
    site = unique("site")
    victim, attacker, honest = unique("CP"), unique("CP"), unique("CP")
    for station in (victim, attacker, honest):
        await seed_station(db, station, site_id=site)
    theirs = await seed_transaction(db, victim, site_id=site, meter_start_wh=0)
    mine = await seed_transaction(db, honest, site_id=site, meter_start_wh=0)
    # A start naming the victim's transaction key under another station's name.
    forged = dataclasses.replace(theirs, station_id=attacker)
    activities = SessionActivities(db)
    results = await asyncio.gather(
        activities.settle_session(_stop(forged, 5000)),
        activities.settle_session(_stop(mine, 3000)),
        return_exceptions=True,
    )
    failure, cdr = results
    assert isinstance(failure, ApplicationError)
    assert failure.type == "UnknownTransaction" and failure.non_retryable
    assert not isinstance(cdr, BaseException) and cdr.energy_wh == 3000
    async with db.sessions() as session:
        assert theirs.transaction_pk is not None
        assert await cdrs.get_for_transaction(session, theirs.transaction_pk) is None


async def test_only_the_stations_own_samples_stand_in_for_a_missing_meter_stop(
    db: Database,
) -> None:
    site = unique("site")
    station, other = unique("CP"), unique("CP")
    await seed_station(db, station, site_id=site)
    await seed_station(db, other, site_id=site)
    start = await seed_transaction(db, station, site_id=site, meter_start_wh=1000)
    neighbour = await seed_transaction(db, other, site_id=site, meter_start_wh=0)
    await store_register(db, station, start, [4000])
    # Samples filed under this transaction's key by another station count for nothing.
    await store_register(db, other, start, [900_000])
    await store_register(db, other, neighbour, [700])
    activities = SessionActivities(db)
    cdr, theirs = await asyncio.gather(
        activities.settle_session(_stop(start, None)),
        activities.settle_session(_stop(neighbour, None)),
    )
    assert cdr.energy_wh == 3000
    assert any("highest sample" in note for note in cdr.notes)
    assert theirs.energy_wh == 700


@pytest.mark.parametrize("copies", [2, 3])
async def test_the_same_session_twice_in_one_batch_is_one_cdr(db: Database, copies: int) -> None:
    site, station = unique("site"), unique("CP")
    await seed_station(db, station, site_id=site)
    start = await seed_transaction(db, station, site_id=site, meter_start_wh=0)
    activities = SessionActivities(db)
    records = await asyncio.gather(
        *(activities.settle_session(_stop(start, 1500)) for _ in range(copies))
    )
    assert all(r == records[0] for r in records) and records[0].energy_wh == 1500
