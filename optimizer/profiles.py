"""From a schedule to charging profiles, and back to the limits they impose.

Each vehicle's planned power becomes a version-neutral TxProfile
(:mod:`optimizer.charging_profile`) on its connector (1.6) or EVSE (2.x), which
the gateway encodes in the OCPP version the station speaks: an absolute
schedule in W, or in A per phase for chargers that only take current limits,
with equal consecutive slots merged. Each station
also gets a station-wide maximum profile (ChargePointMaxProfile in 1.6,
ChargingStationMaxProfile in 2.x) at the charger's rating. Limits are rounded
down (1 W, 0.1 A), never up.

:func:`composite` computes what a charger may draw at a moment under a set of
profiles, as OCPP defines it: per purpose the profile with the highest stack
level that is in force, the lowest of the purposes; :func:`check` proves a
set of profiles keeps every circuit of the capacity tree within its limits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from optimizer.charging_profile import (
    PLANNER_STATION_STACK_LEVEL,
    PLANNER_TX_STACK_LEVEL,
    ChargingProfile,
    Period,
    Purpose,
    RateUnit,
)
from optimizer.evaluate import violations
from optimizer.problem import Schedule, SiteProblem

__all__ = ["ChargingProfile", "Period", "Purpose", "RateUnit"]

VOLTS = 230.0
"""Phase-to-neutral voltage of a charger that names none."""

STATION_MAX_ID = 1
"""Id of the station maximum profile the planner installs."""


def tx_profile_id(connector: int) -> int:
    """Id of the planner's TxProfile on ``connector`` (stable from plan to plan)."""
    return 100 + connector


@dataclass(frozen=True)
class ChargerSetup:
    """How a charger takes limits."""

    station_id: str
    connector: int
    rate_unit: RateUnit = "W"
    phases: int = 3
    # What the current is drawn at: phase to neutral, or line to line for a charger
    # between two lines (a 208 V single-phase charger draws 6.6 kW at 31.7 A).
    volts: float = VOLTS


@dataclass
class ProfileSet:
    """The profiles of one plan, per station."""

    by_station: dict[str, list[ChargingProfile]] = field(default_factory=dict)


RESPONSE_LEAD_S = 5
"""How long before its slot a lower limit starts: IEC 61851-1 gives a car 5 s to
follow a lower pilot signal; the energy this costs is a few watt-hours a change."""


def to_unit(kw: float, unit: RateUnit, phases: int, volts: float = VOLTS) -> float:
    """A power as the charger's limit, rounded down (a value on the pilot grid, such
    as 6 A computed back from kW, stays itself despite floating-point noise)."""
    if unit == "W":
        return float(math.floor(kw * 1000 + 1e-6))
    return math.floor(kw * 1000 / (volts * phases) * 10 + 1e-6) / 10


def from_unit(limit: float, unit: RateUnit, phases: int, volts: float = VOLTS) -> float:
    """A limit back to kW."""
    return limit / 1000 if unit == "W" else limit * volts * phases / 1000


def tx_profile(
    series: Sequence[float],
    setup: ChargerSetup,
    start: datetime,
    slot_s: int,
    profile_id: int,
    transaction_id: str | None = None,
) -> ChargingProfile:
    """A vehicle's planned power as a TxProfile (equal neighbouring slots merged; a
    lower limit from :data:`RESPONSE_LEAD_S` before its slot)."""
    periods: list[Period] = []
    for t, kw in enumerate(series):
        limit = to_unit(kw, setup.rate_unit, setup.phases, setup.volts)
        if not periods or periods[-1].limit != limit:
            phases = setup.phases if setup.rate_unit == "A" else None
            begin = t * slot_s
            if periods and limit < periods[-1].limit:
                # Lower from a little before the slot: the car follows within seconds,
                # and the slot's limit (a utility's, the site's) holds from its start.
                begin = max(periods[-1].start_s + 1, begin - RESPONSE_LEAD_S)
            periods.append(Period(begin, limit, phases))
    return ChargingProfile(
        profile_id=profile_id,
        purpose="TxProfile",
        stack_level=PLANNER_TX_STACK_LEVEL,
        connector=setup.connector,
        start=start,
        duration_s=len(series) * slot_s,
        rate_unit=setup.rate_unit,
        periods=periods,
        transaction_id=transaction_id,
    )


def plan_profiles(
    problem: SiteProblem,
    schedule: Schedule,
    setups: dict[str, ChargerSetup],
    start: datetime,
    *,
    transactions: dict[str, str] | None = None,
) -> ProfileSet:
    """TxProfiles for every vehicle and a station maximum per station.

    Profile ids are stable per connector (:func:`tx_profile_id`), so a new plan
    replaces the previous one's profiles instead of stacking beside them.
    """
    slot_s = round(problem.slot_hours * 3600)
    result = ProfileSet()
    chargers = {c.id: c for c in problem.chargers}
    offers = schedule.pilot_kw if schedule.pilot_kw is not None else schedule.power_kw
    for vehicle in problem.vehicles:
        setup = setups[vehicle.charger]
        profile = tx_profile(
            offers[vehicle.id],
            setup,
            start,
            slot_s,
            tx_profile_id(setup.connector),
            (transactions or {}).get(vehicle.id),
        )
        result.by_station.setdefault(setup.station_id, []).append(profile)
    for station_id in list(result.by_station):
        rating = sum(
            c.max_kw for cid, c in chargers.items() if setups[cid].station_id == station_id
        )
        unit = next(s.rate_unit for s in setups.values() if s.station_id == station_id)
        first = next(s for s in setups.values() if s.station_id == station_id)
        phases, volts = first.phases, first.volts
        result.by_station[station_id].append(
            ChargingProfile(
                profile_id=STATION_MAX_ID,
                purpose="StationMax",
                stack_level=PLANNER_STATION_STACK_LEVEL,
                connector=0,
                start=start,
                duration_s=problem.slots * slot_s,
                rate_unit=unit,
                periods=[
                    Period(0, to_unit(rating, unit, phases, volts), phases if unit == "A" else None)
                ],
            )
        )
    return result


def composite(
    profiles: Sequence[ChargingProfile], connector: int, moment: datetime, default: float
) -> float:
    """What ``connector`` may draw at ``moment`` (in the profiles' unit).

    Per purpose, the profile in force with the highest stack level (the
    connector's own, or the station's for connector 0) sets the limit; the
    result is the lowest of the purposes, or ``default`` when none applies.
    """
    limits = [default]
    for purpose in ("TxProfile", "StationMax"):
        candidates = [
            p
            for p in profiles
            if p.purpose == purpose
            and (p.connector == connector or p.connector == 0)
            and p.limit_at(moment) is not None
        ]
        if candidates:
            best = max(candidates, key=lambda p: p.stack_level)
            limits.append(float(best.limit_at(moment)))  # type: ignore[arg-type]
    return min(limits)


def check(
    problem: SiteProblem,
    profiles: ProfileSet,
    setups: dict[str, ChargerSetup],
    start: datetime,
) -> list[str]:
    """Every limit of the tree that the profiles would let the chargers break.

    For each vehicle and slot, the composite limit of its connector (at the
    slot's start and just before its end, so a period change inside a slot is
    caught) is taken as its power; the capacity tree must hold under it.
    """
    slot = timedelta(hours=problem.slot_hours)
    worst: dict[str, list[float]] = {}
    chargers = {c.id: c for c in problem.chargers}
    for vehicle in problem.vehicles:
        setup = setups[vehicle.charger]
        station_profiles = profiles.by_station.get(setup.station_id, [])
        rating = to_unit(
            chargers[vehicle.charger].max_kw, setup.rate_unit, setup.phases, setup.volts
        )
        series = []
        for t in range(problem.slots):
            begin = start + t * slot
            limit = max(
                composite(station_profiles, setup.connector, moment, rating)
                for moment in (begin, begin + slot - timedelta(seconds=1))
            )
            kw = from_unit(limit, setup.rate_unit, setup.phases, setup.volts)
            # The vehicle draws nothing while it is not plugged in.
            series.append(kw if vehicle.arrival <= t < vehicle.departure else 0.0)
        worst[vehicle.id] = series
    # Energy beyond the need is not a limit breach of the tree: check limits only.
    return [v for v in violations(problem, worst) if "more energy" not in v]
