"""The planning activity against a real database: what each vehicle needs, from what
its own EVSE reported, and prices in the site's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.persistence.database import Database
from activities.persistence.models import SiteCharging, StationEvent
from activities.persistence.types import to_json
from activities.smart_charging import SmartChargingActivities
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction
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
