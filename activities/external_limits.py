"""Charging limits set by something other than the CSMS (2.x NotifyChargingLimit /
ClearedChargingLimit: an EMS, the system operator, the CSO), as caps on the site's
plan.

A station reports such a limit with its source and, when it has one, its schedule;
the newest report per station, EVSE and source stands until it is cleared (or a
day has passed without a new one). The limit in force now caps the charging point
(a station-wide limit is shared evenly among the station's charging points the
site manages), so the planner gives the other cars what the limited one cannot
take instead of planning power the station will not deliver.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import StationEvent
from workflows.smart_charging import SiteCharger

STANDS_FOR = timedelta(hours=24)
"""A limit not reported again (nor cleared) within this is taken as gone."""


def limit_now(message: dict[str, Any], now: datetime) -> tuple[float, str] | None:
    """The limit in force at ``now`` in a NotifyChargingLimit's schedules, with its
    unit (the lowest where several apply); None without one in force."""
    found: list[tuple[float, str]] = []
    for schedule in message.get("chargingSchedule") or []:
        began = schedule.get("startSchedule")
        start = datetime.fromisoformat(began) if began else None
        offset = (now - start).total_seconds() if start is not None else 0.0
        duration = schedule.get("duration")
        if offset < 0 or (duration is not None and offset >= duration):
            continue
        current = None
        for period in schedule.get("chargingSchedulePeriod", []):
            if period["startPeriod"] <= offset:
                current = period
        if current is not None and current.get("limit") is not None:
            found.append((float(current["limit"]), schedule["chargingRateUnit"]))
    return min(found) if found else None


async def caps_kw(
    session: AsyncSession, chargers: Sequence[SiteCharger], now: datetime
) -> dict[str, float]:
    """Per charging point (``station#evse``) the external limit in force now, in kW."""
    by_station: dict[str, list[SiteCharger]] = {}
    for charger in chargers:
        by_station.setdefault(charger.station_id, []).append(charger)
    if not by_station:
        return {}
    rows = (
        await session.scalars(
            select(StationEvent)
            .where(
                StationEvent.station_id.in_(list(by_station)),
                StationEvent.kind == "ChargingLimit",
                StationEvent.received_at >= now - STANDS_FOR,
            )
            .order_by(StationEvent.received_at, StationEvent.id)
        )
    ).all()
    # The newest word per (station, EVSE, source): a limit, or its clearing.
    standing: dict[tuple[str, int | None, str], dict[str, Any] | None] = {}
    for row in rows:
        message = row.payload.get("message") or {}
        if "chargingLimit" in message:
            source = message["chargingLimit"].get("chargingLimitSource", "Other")
            standing[(row.station_id, message.get("evseId"), source)] = message
        elif "chargingLimitSource" in message:
            standing[(row.station_id, message.get("evseId"), message["chargingLimitSource"])] = None
    caps: dict[str, float] = {}
    for (station_id, evse_id, _), message in standing.items():
        if message is None:
            continue
        limit = limit_now(message, now)
        if limit is None:
            continue
        value, unit = limit
        targets = [
            c for c in by_station[station_id] if evse_id in (None, 0) or c.evse_id == evse_id
        ]
        for charger in targets:
            kw = value / 1000 if unit == "W" else value * charger.kw_per_amp
            if evse_id in (None, 0):
                kw /= len(targets)  # a station-wide limit, shared
            key = f"{station_id}#{charger.evse_id}"
            caps[key] = min(caps.get(key, kw), kw)
    return caps
