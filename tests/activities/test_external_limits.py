"""External charging limits (NotifyChargingLimit / ClearedChargingLimit) as the caps the
site's plan keeps to: the newest word per station, EVSE and source; a schedule's
period in force now; amperes at the charger's wiring; a station-wide limit shared."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from activities.external_limits import caps_kw, limit_now
from activities.persistence.database import Database
from activities.persistence.repositories import station_events
from tests.conftest import unique
from workflows.smart_charging import SiteCharger

NOW = datetime.now(UTC).replace(microsecond=0)


def notify(limit: float, unit: str = "W", evse: int | None = 1, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "chargingLimit": {"chargingLimitSource": extra.pop("source", "EMS")},
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": (NOW - timedelta(minutes=10)).isoformat(),
                "duration": 3600,
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": limit * 2},
                    {"startPeriod": 300, "limit": limit},
                ],
            }
        ],
    }
    if evse is not None:
        message["evseId"] = evse
    return message


def test_the_period_in_force_is_the_limit() -> None:
    assert limit_now(notify(4000), NOW) == (4000.0, "W")
    assert limit_now(notify(4000), NOW + timedelta(hours=2)) is None  # over
    assert limit_now({"chargingLimit": {"chargingLimitSource": "SO"}}, NOW) is None


async def _keep(db: Database, station: str, message: dict[str, Any]) -> None:
    async with db.sessions.begin() as session:
        station_events.add_event(
            session, station_id=station, kind="ChargingLimit", payload={"message": message}
        )


async def test_limits_cap_their_charging_points_until_cleared(db: Database) -> None:
    a, b = unique("EMS"), unique("EMS")
    chargers = [
        SiteCharger(a, 1, 11),
        SiteCharger(a, 2, 11),
        SiteCharger(b, 1, 11, phases="L1", rate_unit="A"),
    ]
    await _keep(db, a, notify(4000, evse=1))
    await _keep(db, b, notify(10, unit="A", evse=None, source="SO"))
    async with db.sessions() as session:
        caps = await caps_kw(session, chargers, NOW)
    # 10 A on one phase at 230 V, the station's only managed point.
    assert caps == pytest.approx({f"{a}#1": 4.0, f"{b}#1": 2.3})
    # A station-wide limit on A is shared between its two points; EVSE 1's own stays.
    await _keep(db, a, notify(6000, evse=None, source="CSO"))
    await _keep(db, a, {"chargingLimitSource": "EMS", "evseId": 1})  # EVSE 1's cleared
    async with db.sessions() as session:
        caps = await caps_kw(session, chargers, NOW)
    assert caps == pytest.approx({f"{a}#1": 3.0, f"{a}#2": 3.0, f"{b}#1": 2.3})
