"""The planning activity against a real database: what each vehicle needs, from what
its own EVSE reported, and prices in the site's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.persistence.database import Database
from activities.persistence.models import SiteCharging, StationEvent
from activities.persistence.repositories import stations
from activities.persistence.types import to_json
from activities.smart_charging import SmartChargingActivities, draw_caps, measure_load
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction, store_register
from workflows.domain import ConnectorStatus
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


async def _two_cars(
    db: Database, site: str, station: str, arrived: datetime
) -> list[PresentVehicle]:
    """Sessions on EVSEs 1 and 2 of ``station`` since ``arrived``, as the site sees them."""
    present = []
    for evse in (1, 2):
        start = await seed_transaction(
            db, station, site_id=site, started_at=arrived, connector_id=evse
        )
        present.append(
            PresentVehicle(f"{station}#{evse}", station, evse, start.transaction_id, arrived, 1000)
        )
    return present


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
    present = await _two_cars(db, site, station, arrived)
    await _needs(db, station, 1, 20.0, arrived + timedelta(minutes=1))
    await _needs(db, station, 2, 5.0, arrived + timedelta(minutes=2))
    plan = await SmartChargingActivities(db).plan_site(PlanRequest(site, present, NOW))
    hours = config.slot_minutes / 60
    planned = {key: sum(series) * hours for key, series in plan.power_kw.items()}
    assert planned[f"{station}#1"] == pytest.approx(20.0, abs=0.3)
    assert planned[f"{station}#2"] == pytest.approx(5.0, abs=0.3)


def test_load_is_measured_from_what_sessions_received_and_never_invented() -> None:
    t0 = NOW
    first, none, _ = measure_load(None, t0, {"A|1": (2.0, t0 - timedelta(hours=1))})
    assert none is None and first["delivered"] == {"A|1": 2.0}
    # Two minutes later: too short an interval to average; the mark stays.
    same, none, _ = measure_load(first, t0 + timedelta(minutes=2), {"A|1": (2.2, t0)})
    assert none is None and same is first
    received = {
        "A|1": (4.75, t0 - timedelta(hours=1)),  # 2.75 kWh in 15 min: 11 kW
        "B|2": (1.0, t0 + timedelta(minutes=5)),  # started since: all of its 1 kWh
        "C|3": (9.0, t0 - timedelta(hours=2)),  # unknown to the mark, older: not counted
    }
    mark, kw, each = measure_load(first, t0 + timedelta(minutes=15), received)
    assert kw == pytest.approx(15.0)
    assert each == {"A|1": pytest.approx(11.0)}  # only sessions measured over the interval
    assert mark["delivered"]["C|3"] == 9.0
    # A register that went backwards (a reset) counts nothing, not a negative load.
    _, kw, _ = measure_load(mark, t0 + timedelta(minutes=30), {"A|1": (1.0, t0)})
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


def test_a_car_that_takes_less_is_capped_and_one_that_takes_all_is_given_more() -> None:
    caps = draw_caps({}, {"A|1": 2.0, "B|2": 6.0, "C|3": 0.1}, {"A|1": 6.0, "B|2": 6.0})
    assert caps == {"A|1": 2.5}  # B took its plan; C had none planned
    again = draw_caps(caps, {"A|1": 2.4}, {"A|1": 2.5})
    assert again == {"A|1": pytest.approx(3.75)}  # near its cap: maybe it takes more
    paused = draw_caps(caps, {"A|1": 0.0}, {"A|1": 2.5})
    assert paused == {"A|1": 1.0}


async def test_capacity_a_car_leaves_unused_goes_to_the_others(db: Database) -> None:
    """Car A is planned 6 kW but draws 2 kW (SuspendedEV, or tapering): the next plan
    gives it what it takes and car B, arriving, the rest of the site's 12 kW."""
    station = unique("CP")
    config = SiteChargingConfig(
        connection_kw=12.0,
        chargers=[
            SiteCharger(station, 1, 6.0, phases="L1"),
            SiteCharger(station, 2, 11.0, phases="L1"),
        ],
        prices=[PriceBand(0, 24, 0.2)],
        default_max_kw=11.0,
    )
    site = await _site(db, station, config)
    began = NOW - timedelta(minutes=30)
    car_a = await seed_transaction(db, station, site_id=site, started_at=began, connector_id=1)
    a = PresentVehicle(f"{station}#1", station, 1, car_a.transaction_id, began, 1000)
    activities = SmartChargingActivities(db)
    first = await activities.plan_site(PlanRequest(site, [a], began))
    assert first.power_kw[a.key][0] == pytest.approx(6.0)
    # 15 minutes at 2 kW: 0.5 kWh.
    await store_register(db, station, car_a, [1000 + 2000 / 60 * m for m in range(1, 16)])
    car_b = await seed_transaction(
        db, station, site_id=site, started_at=began + timedelta(minutes=15), connector_id=2
    )
    b = PresentVehicle(
        f"{station}#2", station, 2, car_b.transaction_id, began + timedelta(minutes=15), 1000
    )
    second = await activities.plan_site(PlanRequest(site, [a, b], began + timedelta(minutes=15)))
    assert max(second.power_kw[a.key]) <= 2.5 + 1e-6
    assert second.power_kw[a.key][0] + second.power_kw[b.key][0] == pytest.approx(12.0, abs=0.3)


async def test_a_car_the_charger_reports_suspended_is_offered_only_the_minimum(
    db: Database,
) -> None:
    """1.6 StatusNotification SuspendedEV since the session began: the car is planned at
    the pilot's minimum; the same status left from an earlier car counts for nothing."""
    station = unique("CP")
    config = SiteChargingConfig(
        connection_kw=30.0,
        chargers=[SiteCharger(station, 1, 11.0), SiteCharger(station, 2, 11.0)],
        prices=[PriceBand(0, 24, 0.2)],
    )
    site = await _site(db, station, config)
    began = NOW - timedelta(minutes=10)
    present = await _two_cars(db, site, station, began)
    async with db.sessions.begin() as session:
        for evse, at in ((1, began + timedelta(minutes=5)), (2, began - timedelta(hours=2))):
            await stations.set_connector_status(
                session, station, ConnectorStatus(evse, evse, "SuspendedEV", at, "NoError")
            )
    plan = await SmartChargingActivities(db).plan_site(PlanRequest(site, present, NOW))
    minimum = 6 * 230 * 3 / 1000
    assert max(plan.power_kw[f"{station}#1"]) <= minimum + 1e-6
    assert plan.power_kw[f"{station}#2"][0] == pytest.approx(11.0)
