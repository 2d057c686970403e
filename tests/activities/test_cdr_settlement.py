"""Settlement prices each CDR with the tariff version assigned where the car charged,
from its meter samples and its connector's status history, and a CDR never changes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from activities.billing.tariffs import parse_tariff
from activities.persistence.database import Database
from activities.persistence.models import ChargeDetailRecordRow, ReconciliationItem, TariffVersion
from activities.persistence.repositories import stations, tariffs
from activities.sessions import SessionActivities, SettleRequest
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction, store_register
from workflows.domain import ConnectorStatus, SessionStarted, SessionStopped

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Amsterdam


def _tariff(tariff_id: str, energy: str = "0.30", **extra: Any) -> dict[str, Any]:
    return {
        "id": tariff_id,
        "currency": "EUR",
        "elements": [
            {
                "price_components": [
                    {"type": "ENERGY", "price": energy, "vat": 20, "step_size": 1},
                    {"type": "TIME", "price": "2.00", "vat": 20, "step_size": 1},
                    {"type": "PARKING_TIME", "price": "5.00", "vat": 20, "step_size": 1},
                    {"type": "FLAT", "price": "1.00", "vat": 20, "step_size": 1},
                ]
            }
        ],
        **extra,
    }


async def _add_tariff(
    db: Database, body: dict[str, Any], site: str, *, station: str = "", created: datetime
) -> TariffVersion:
    async with db.sessions.begin() as session:
        row = await tariffs.add_version(session, parse_tariff(body))
        row.created_at = created
        if not await tariffs.assignments(session, row.tariff_id):
            await tariffs.assign(session, row.tariff_id, site, station_id=station)
        return row


async def _status(db: Database, station: str, at: datetime, status: str) -> None:
    async with db.sessions.begin() as session:
        await stations.set_connector_status(session, station, ConnectorStatus(1, 1, status, at))


def _request(start: SessionStarted, stop_wh: int, minutes: int = 60) -> SettleRequest:
    stopped = SessionStopped(
        start.transaction_id,
        stop_wh,
        start.started_at + timedelta(minutes=minutes),
        "EVDisconnected",
    )
    return SettleRequest(start=start, stop=stopped)


async def test_a_session_is_priced_by_its_tariff_line_by_line(db: Database) -> None:
    """10 kWh charged in 40 minutes, then 20 minutes parked (SuspendedEV): energy,
    charging time, parking time and the session fee, each with 20 % VAT."""
    site, station = unique("site"), unique("CP")
    await seed_station(db, station, site_id=site)
    version = await _add_tariff(db, _tariff(unique("T")), site, created=T0 - timedelta(days=1))
    start = await seed_transaction(db, station, site_id=site, meter_start_wh=0, started_at=T0)
    await store_register(db, station, start, [250.0 * k for k in range(1, 41)])  # to 10 kWh
    await _status(db, station, T0, "Charging")
    await _status(db, station, T0 + timedelta(minutes=40), "SuspendedEV")

    cdr = await SessionActivities(db).settle_session(_request(start, 10_000))

    assert (cdr.tariff_id, cdr.tariff_version) == (version.tariff_id, 1)
    # 3.00 energy + 1.3333 time + 1.6667 parking + 1.00 flat = 7.00, VAT 1.40
    assert Decimal(cdr.total_excl_vat or "") == Decimal("7.00")
    assert Decimal(cdr.total_cost) == Decimal("8.40")
    async with db.sessions() as session:
        row = await session.scalar(
            select(ChargeDetailRecordRow).where(
                ChargeDetailRecordRow.transaction_pk == start.transaction_pk
            )
        )
    assert row is not None and row.cost_lines is not None and row.totals is not None
    lines = {line["dimension"]: line for line in row.cost_lines}
    assert {d: Decimal(line["excl_vat"]) for d, line in lines.items()} == {
        "ENERGY": Decimal("3.00"),
        "TIME": Decimal("1.33"),
        "PARKING_TIME": Decimal("1.67"),
        "FLAT": Decimal("1.00"),
    }
    assert Decimal(lines["ENERGY"]["quantity"]) == 10
    assert sum(Decimal(line["incl_vat"]) for line in row.cost_lines) == Decimal("8.40")
    assert row.totals["total_parking_time"] == str(Decimal(1) / 3)[:8]
    assert row.totals["total_energy"] == "10"
    assert row.id_token == "TAG-1" and row.customer_group == "public"
    assert row.charging_periods and row.charging_periods[0]["tariff_id"] == version.tariff_id


async def test_the_version_in_force_at_the_start_prices_the_session(db: Database) -> None:
    """A price change made while the car charges does not reprice it; the next
    session gets the new version."""
    site, station = unique("site"), unique("CP")
    await seed_station(db, station, site_id=site)
    tariff_id = unique("T")
    await _add_tariff(db, _tariff(tariff_id, "0.30"), site, created=T0 - timedelta(days=1))
    first = await seed_transaction(db, station, site_id=site, meter_start_wh=0, started_at=T0)
    await _add_tariff(db, _tariff(tariff_id, "0.90"), site, created=T0 + timedelta(minutes=5))
    activities = SessionActivities(db)
    old = await activities.settle_session(_request(first, 10_000))
    second = await seed_transaction(
        db, station, site_id=site, meter_start_wh=10_000, started_at=T0 + timedelta(hours=2)
    )
    new = await activities.settle_session(_request(second, 20_000))
    assert (old.tariff_version, new.tariff_version) == (1, 2)
    # 10 kWh: 3.00 against 9.00, the rest the same (2.00 an hour, 1.00 the session)
    assert Decimal(new.total_excl_vat or "") - Decimal(old.total_excl_vat or "") == 6


async def test_each_session_of_a_batch_gets_the_most_specific_tariff(db: Database) -> None:
    """A station's own tariff beats the site's; sessions settled together each get
    theirs (and another station's status history never touches a session)."""
    site, special, plain = unique("site"), unique("CP"), unique("CP")
    for station in (special, plain):
        await seed_station(db, station, site_id=site)
    site_wide = await _add_tariff(db, _tariff(unique("T"), "0.30"), site, created=T0)
    own = await _add_tariff(db, _tariff(unique("T"), "0.50"), site, station=special, created=T0)
    starts = [
        await seed_transaction(db, station, site_id=site, meter_start_wh=0, started_at=T0)
        for station in (special, plain)
    ]
    # Only the plain station's car was parked for the last half hour.
    await _status(db, plain, T0 + timedelta(minutes=30), "SuspendedEV")
    activities = SessionActivities(db)
    got = await asyncio.gather(*(activities.settle_session(_request(s, 10_000)) for s in starts))
    assert [c.tariff_id for c in got] == [own.tariff_id, site_wide.tariff_id]
    # special: 5.00 + 2.00 (an hour charging) + 1.00; plain: 3.00 + 1.00 + 2.50 + 1.00
    assert [Decimal(c.total_excl_vat or "") for c in got] == [Decimal("8.00"), Decimal("7.50")]


async def test_a_site_with_no_tariff_prices_by_its_flat_price(db: Database) -> None:
    site, station = unique("site"), unique("CP")
    await seed_station(db, station, site_id=site, price="0.45")
    start = await seed_transaction(db, station, site_id=site, meter_start_wh=500, started_at=T0)
    cdr = await SessionActivities(db).settle_session(_request(start, 10_500))
    assert (cdr.tariff_id, cdr.tariff_version) == (None, None)
    assert Decimal(cdr.total_cost) == Decimal("4.50") == Decimal(cdr.total_excl_vat or "")
    assert Decimal(cdr.price_per_kwh) == Decimal("0.45")


async def test_a_tariff_that_cannot_price_still_gives_a_cdr_and_says_why(db: Database) -> None:
    """A stored version the engine refuses (written around the API) is a fault of
    ours: the session is still settled, at the site's flat price, into reconciliation."""
    site, station = unique("site"), unique("CP")
    await seed_station(db, station, site_id=site, price="0.40")
    version = await _add_tariff(db, _tariff(unique("T")), site, created=T0)
    async with db.sessions.begin() as session:
        await session.execute(
            update(TariffVersion)
            .where(TariffVersion.id == version.id)
            .values(body={**version.body, "currency": "XXX"})
        )
    start = await seed_transaction(db, station, site_id=site, meter_start_wh=0, started_at=T0)
    cdr = await SessionActivities(db).settle_session(_request(start, 10_000))
    assert cdr.tariff_id is None and Decimal(cdr.total_cost) == Decimal("4.00")
    assert any("could not price" in note for note in cdr.notes)
    async with db.sessions() as session:
        items = (
            await session.scalars(
                select(ReconciliationItem).where(
                    ReconciliationItem.station_id == station,
                    ReconciliationItem.kind == "CdrNotPriced",
                )
            )
        ).all()
    assert len(items) == 1 and items[0].payload["tariff_id"] == version.tariff_id


async def test_a_cdr_cannot_be_changed(db: Database) -> None:
    """The database itself refuses an UPDATE of a CDR (both engines)."""
    site, station = unique("site"), unique("CP")
    await seed_station(db, station, site_id=site)
    start = await seed_transaction(db, station, site_id=site, meter_start_wh=0, started_at=T0)
    await SessionActivities(db).settle_session(_request(start, 1000))
    with pytest.raises(DBAPIError, match="immutable"):
        async with db.sessions.begin() as session:
            await session.execute(
                update(ChargeDetailRecordRow)
                .where(ChargeDetailRecordRow.transaction_pk == start.transaction_pk)
                .values(total_cost=Decimal(0))
            )
    async with db.sessions() as session:
        row = await session.scalar(
            select(ChargeDetailRecordRow).where(
                ChargeDetailRecordRow.transaction_pk == start.transaction_pk
            )
        )
    assert row is not None and row.total_cost == Decimal("0.40")
