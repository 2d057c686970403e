"""The planning activity against a real database: what each vehicle needs, from what
its own EVSE reported, and prices in the site's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.persistence.database import Database
from activities.persistence.models import SiteCharging, StationEvent
from activities.persistence.types import to_json
from activities.smart_charging import SmartChargingActivities, measure_load
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction, store_register
from workflows.smart_charging import (
    PlanRequest,
    PresentVehicle,
    PriceBand,
    SiteCharger,
    SiteChargingConfig,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def _site(db: Database, station: str, config: SiteChargingConfig) -> str:
    site = unique("site")
    await seed_station(db, station, site_id=site)
    async with db.sessions.begin() as session:
        session.add(SiteCharging(site_id=site, config=to_json(config), enabled=True))
    return site


async def _needs(db: Database, station: str, evse: int, kwh: float, at: datetime) -> None:
    async with db.sessions.begin() as session:
        session.add(
            StationEvent(
                station_id=station,
                kind="EVChargingNeeds",
                payload={
                    "needs": {
                        "evse_id": evse,
                        "energy_wh": kwh * 1000,
                        "departure": (NOW + timedelta(hours=4)).isoformat(),
                    }
                },
                received_at=at,
            )
        )


async def test_each_port_of_a_dual_port_charger_is_planned_with_its_own_needs(
    db: Database,
) -> None:
    """EVSE 2 reports 5 kWh after EVSE 1 reported 20: each car is planned for its own
    (not the newest report of the station for both)."""
    station = unique("CP")
    config = SiteChargingConfig(
        connection_kw=50.0,
        chargers=[SiteCharger(station, 1, 11.0), SiteCharger(station, 2, 11.0)],
        prices=[PriceBand(0, 24, 0.2)],
        departure_margin_hours=0.0,
    )
    site = await _site(db, station, config)
    arrived = NOW - timedelta(minutes=30)
    present = []
    for evse in (1, 2):
        start = await seed_transaction(
            db, station, site_id=site, started_at=arrived, connector_id=evse
        )
        present.append(
            PresentVehicle(f"{station}#{evse}", station, evse, start.transaction_id, arrived, 1000)
        )
    await _needs(db, station, 1, 20.0, arrived + timedelta(minutes=1))
    await _needs(db, station, 2, 5.0, arrived + timedelta(minutes=2))
    plan = await SmartChargingActivities(db).plan_site(PlanRequest(site, present, NOW))
    hours = config.slot_minutes / 60
    planned = {key: sum(series) * hours for key, series in plan.power_kw.items()}
    assert planned[f"{station}#1"] == pytest.approx(20.0, abs=0.3)
    assert planned[f"{station}#2"] == pytest.approx(5.0, abs=0.3)


def test_load_is_measured_from_what_sessions_received_and_never_invented() -> None:
    t0 = NOW
    first, none = measure_load(None, t0, {"A|1": (2.0, t0 - timedelta(hours=1))})
    assert none is None and first["delivered"] == {"A|1": 2.0}
    # Two minutes later: too short an interval to average; the mark stays.
    same, none = measure_load(first, t0 + timedelta(minutes=2), {"A|1": (2.2, t0)})
    assert none is None and same is first
    received = {
        "A|1": (4.75, t0 - timedelta(hours=1)),  # 2.75 kWh in 15 min: 11 kW
        "B|2": (1.0, t0 + timedelta(minutes=5)),  # started since: all of its 1 kWh
        "C|3": (9.0, t0 - timedelta(hours=2)),  # unknown to the mark, older: not counted
    }
    mark, kw = measure_load(first, t0 + timedelta(minutes=15), received)
    assert kw == pytest.approx(15.0)
    assert mark["delivered"]["C|3"] == 9.0
    # A register that went backwards (a reset) counts nothing, not a negative load.
    _, kw = measure_load(mark, t0 + timedelta(minutes=30), {"A|1": (1.0, t0)})
    assert kw == 0.0


async def test_the_months_measured_peak_is_the_floor_of_the_next_plans(db: Database) -> None:
    """Two cars drawing 11 kW each for 15 minutes: the site has paid for 22 kW this
    month, its plans may use the headroom up to it, and a new month starts from zero."""
    station = unique("CP")
    config = SiteChargingConfig(
        connection_kw=50.0,
        chargers=[SiteCharger(station, 1, 11.0), SiteCharger(station, 2, 11.0)],
        prices=[PriceBand(0, 24, 0.2)],
        demand_charge_per_kw=15.0,
        time_zone="Europe/Berlin",
    )
    site = await _site(db, station, config)
    began = NOW - timedelta(minutes=20)
    starts, present = [], []
    for evse in (1, 2):
        start = await seed_transaction(
            db, station, site_id=site, started_at=began, connector_id=evse, meter_start_wh=1000
        )
        starts.append(start)
        present.append(
            PresentVehicle(f"{station}#{evse}", station, evse, start.transaction_id, began, 1000)
        )
        await store_register(db, station, start, [1000 + 11000 / 60 * m for m in range(1, 6)])
    activities = SmartChargingActivities(db)
    first = await activities.plan_site(PlanRequest(site, present, began + timedelta(minutes=5)))
    assert first.month_peak_kw == 0.0  # nothing measured yet
    for start in starts:
        await store_register(
            db,
            station,
            start,
            [1000 + 11000 / 60 * m for m in range(6, 21)],
            after_minutes=5,
        )
    second = await activities.plan_site(PlanRequest(site, present, began + timedelta(minutes=20)))
    assert second.month_peak_kw == pytest.approx(22.0, rel=1e-3)
    async with db.sessions() as session:
        row = await session.get(SiteCharging, site)
        assert row is not None and row.peak_month == "2026-12"
        assert row.month_peak_kw == pytest.approx(22.0, rel=1e-3)
    # New Year in Berlin is 23:00 UTC on 31 December: the month's peak starts over.
    new_year = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    january = await activities.plan_site(PlanRequest(site, present, new_year))
    assert january.month_peak_kw < 1.0
