"""The site workflow's planning activity: telemetry and configuration in, profiles out.

Reads the site's configuration and, for each vehicle present, the energy it has
received (from the stored meter samples) and its need (from a 2.x
NotifyEVChargingNeeds, else the site's defaults); solves the site LP; turns
the schedule into charging profiles for each station's version family; keeps
the plan on the site's row for the API.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from temporalio import activity
from temporalio.converter import value_to_type
from temporalio.exceptions import ApplicationError

from activities import demand_response, external_limits
from activities.billing.tariff_bands import energy_bands
from activities.billing.tariffs import Tariff as BillingTariff
from activities.persistence.database import Database
from activities.persistence.models import SiteCharging, StationEvent, Transaction
from activities.persistence.repositories import meter_samples, site_plans, stations, transactions
from activities.persistence.repositories import tariffs as tariff_rows
from activities.persistence.types import to_json
from optimizer import lp, pilot, profiles
from optimizer.charging_profile import PLANNER_TX_STACK_LEVEL, ChargingProfile
from optimizer.fleet import Depot, DepotCharger, TimeOfUse
from optimizer.problem import Charger, Circuit, Schedule, SiteProblem, Tariff, Vehicle
from workflows.commands import ClearChargingProfile, CommandRequest, SetChargingProfile
from workflows.domain import ChargingNeeds
from workflows.smart_charging import (
    PlanRequest,
    PresentVehicle,
    PriceBand,
    SiteChargingConfig,
    SitePlan,
    SitePlanOutcome,
    SitePlanRequest,
)

log = logging.getLogger(__name__)

ROOT = "site"


def slot_start(now: datetime, slot_minutes: int) -> datetime:
    """The start of the slot ``now`` falls in."""
    minutes = (now.minute // slot_minutes) * slot_minutes
    return now.replace(minute=minutes, second=0, microsecond=0)


def site_problem(
    config: SiteChargingConfig,
    vehicles: Sequence[tuple[PresentVehicle, float, datetime | None]],
    start: datetime,
    peak_so_far_kw: float = 0.0,
    caps: dict[str, float] | None = None,
    asks: demand_response.SlotAsks | None = None,
) -> SiteProblem:
    """The optimizer's problem: ``vehicles`` are (vehicle, kWh still needed, departure);
    ``peak_so_far_kw`` the billing month's measured peak (paid for already); ``caps``
    per charging point what its car has shown it takes (:func:`draw_caps`); ``asks``
    what utilities' demand-response events ask of each slot (import caps, prices).

    One vehicle per charging point: when a new session started on an EVSE before the
    previous one's stop reached the site, the previous car has left, and only the
    newest arrival is planned. A departure already past leaves the vehicle one slot
    (it is still plugged in); a need below zero counts as none.
    """
    slots = config.horizon_hours * 60 // config.slot_minutes
    step = timedelta(minutes=config.slot_minutes)
    depot = depot_of(config)
    chargers = {f"{c.station_id}#{c.evse_id}": c for c in config.chargers}
    newest: dict[str, tuple[PresentVehicle, float, datetime | None]] = {}
    for entry in vehicles:
        seen = newest.get(entry[0].key)
        if seen is None or entry[0].arrived_at >= seen[0].arrived_at:
            newest[entry[0].key] = entry
    stays = []
    for vehicle, need, departure in newest.values():
        charger = chargers.get(vehicle.key)
        if charger is None:
            continue  # a charging point the configuration does not manage
        leave = departure or vehicle.arrived_at + timedelta(hours=config.default_stay_hours)
        last = max(1, min(slots, math.ceil((leave - start) / step)))
        # Drivers leave before their estimate: the last hours of a stay are uncertain.
        margin = timedelta(hours=config.departure_margin_hours)
        sure = max(0, math.floor((leave - margin - start) / step)) if margin else None
        stays.append(
            Vehicle(
                vehicle.key,
                vehicle.key,
                0,
                last,
                max(0.0, need) if math.isfinite(need) else 0.0,
                min(
                    config.default_max_kw,
                    charger.max_kw,
                    # A car is never capped below the pilot's minimum: no lower offer exists.
                    max(
                        (caps or {}).get(vehicle.key, math.inf),
                        charger.min_current_a * charger.kw_per_amp,
                    ),
                ),
                sure_until=sure,
                priority=charger.priority,
            )
        )
    return SiteProblem(
        slot_hours=config.slot_minutes / 60,
        slots=slots,
        circuits=[
            Circuit(
                ROOT,
                config.connection_kw,
                None,
                config.phase_limit(
                    config.connection_phase_limit_kw, config.connection_phase_limit_a
                ),
            ),
            *(
                Circuit(
                    c.id,
                    c.limit_kw,
                    c.parent or ROOT,
                    config.phase_limit(c.phase_limit_kw, c.phase_limit_a),
                )
                for c in config.circuits
            ),
        ],
        chargers=[
            Charger(
                key,
                c.circuit or ROOT,
                c.max_kw,
                c.phases,
                min_kw=c.min_current_a * c.kw_per_amp,
                step_kw=(c.current_step_a or 0.0) * c.kw_per_amp,
            )
            for key, c in chargers.items()
        ],
        vehicles=stays,
        risk_premium_per_kwh=config.departure_risk_premium_per_kwh,
        import_limit_kw=asks.import_limit_kw if asks is not None and asks.any else None,
        tariff=Tariff(
            price_per_kwh=[
                asked
                if asks is not None and (asked := asks.price_per_kwh[t]) is not None
                else depot.price_at(start + t * step)
                for t in range(slots)
            ],
            demand_charge_per_kw=config.demand_charge_per_kw,
            peak_so_far_kw=peak_so_far_kw,
        ),
    )


MEASURE_AT_LEAST = timedelta(minutes=5)
"""The shortest interval the site's load is averaged over: plans a few seconds apart
(a burst of arrivals) would turn a meter's 1 Wh steps into a false peak."""


def billing_month(moment: datetime, time_zone: str) -> str:
    """The site's billing month of ``moment`` ("2026-12"), in its local time."""
    return moment.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m")


def measure_load(
    mark: dict[str, Any] | None,
    now: datetime,
    delivered: dict[str, tuple[float, datetime]],
) -> tuple[dict[str, Any], float | None, dict[str, float]]:
    """The site's average charging power since the last mark, each session's (of those
    the mark knew), and the next mark.

    ``delivered``: per session (``station|transaction``) the kWh it has received and
    when it started. A session the mark knew counts what it received since; one that
    started after the mark counts all of it; one that ended in between is missed (the
    measurement can only err low, never invent a peak). Below
    :data:`MEASURE_AT_LEAST` since the mark, nothing is measured and the mark stays.
    The mark keeps the sessions' draw caps (:func:`draw_caps`) as they were.
    """
    energy = {key: kwh for key, (kwh, _) in delivered.items()}
    caps = (mark or {}).get("caps", {})
    if mark is None:
        return {"at": now.isoformat(), "delivered": energy, "caps": {}}, None, {}
    since = datetime.fromisoformat(mark["at"])
    if now - since < MEASURE_AT_LEAST:
        return mark, None, {}
    before: dict[str, float] = mark.get("delivered", {})
    hours = (now - since).total_seconds() / 3600
    kwh = 0.0
    each: dict[str, float] = {}
    for key, (now_kwh, started) in delivered.items():
        if key in before:
            got = max(0.0, now_kwh - before[key])
            each[key] = got / hours
            kwh += got
        elif started >= since:
            kwh += now_kwh
    kept = {key: cap for key, cap in caps.items() if key in delivered}
    return {"at": now.isoformat(), "delivered": energy, "caps": kept}, kwh / hours, each


CAPS_FROM_AT_MOST = timedelta(minutes=30)
"""The longest interval whose draws say what a car takes."""
TAKES_LESS = 0.6
"""A car that drew less than this share of the power planned for it takes less than it
is offered (SuspendedEV, tapering when nearly full, its own limit)."""
TAKES_ALL = 0.9
"""A capped car drawing at least this share of its cap may take more."""


def draw_caps(
    caps: dict[str, float],
    observed_kw: dict[str, float],
    planned_kw: dict[str, float],
) -> dict[str, float]:
    """Each session's cap on what the plan gives it, from what it drew.

    A car that drew under :data:`TAKES_LESS` of its planned power is planned at what it
    drew (and a quarter more) from now on, so the capacity it leaves goes to the
    others at once; a capped car that draws :data:`TAKES_ALL` of its cap gets half as
    much again at each plan (a car that was only paused comes back to full in a few
    plans); every cap is at least 1 kW.
    """
    result = dict(caps)
    for key, drew in observed_kw.items():
        cap = caps.get(key)
        if cap is None:
            planned = planned_kw.get(key, 0.0)
            if planned >= 1.0 and drew < TAKES_LESS * planned:
                result[key] = max(1.0, drew * 1.25)
        elif drew >= TAKES_ALL * cap:
            result[key] = cap * 1.5
        else:
            result[key] = max(1.0, drew * 1.25)
    return result


def planned_at(plan: dict[str, Any] | None, key: str, moment: datetime) -> float:
    """What the stored plan gave charging point ``key`` at ``moment`` (0 if nothing)."""
    if not plan or key not in plan.get("power_kw", {}):
        return 0.0
    began = datetime.fromisoformat(plan["planned_at"])
    slot = int((moment - began) / timedelta(minutes=plan["slot_minutes"]))
    series = plan["power_kw"][key]
    return float(series[slot]) if 0 <= slot < len(series) else 0.0


async def present_at_site(
    session: Any, site_id: str, config: SiteChargingConfig
) -> list[PresentVehicle]:
    """The site's active transactions on the charging points it manages, oldest first."""
    managed = {(c.station_id, c.evse_id) for c in config.chargers}
    return [
        PresentVehicle(
            f"{tx.station_id}#{tx.evse_id}",
            tx.station_id,
            tx.evse_id,
            tx.ref,
            tx.started_at,
            tx.meter_start_wh,
        )
        for tx in await transactions.active_at_site(session, site_id)
        if (tx.station_id, tx.evse_id) in managed
    ]


class SmartChargingActivities:
    """Planning for the site workflows, bound to a database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn(name="site_is_smart")
    async def site_is_smart(self, site_id: str) -> bool:
        """Whether the site is smart-charged. Asked by sessions recorded between the
        "site-charging" patch and the gateway's flag; kept so they can finish."""
        async with self._db.sessions() as session:
            row = await session.get(SiteCharging, site_id)
        return row is not None and row.enabled

    @activity.defn(name="plan_site")
    async def plan_site(self, request: PlanRequest) -> SitePlan:
        """Solve the site's schedule now for the vehicles the workflow names and return
        the profiles that install it. Runs that began before "derived-state" use it."""
        async with self._db.sessions() as session:
            row = await self._row(session, request.site_id)
            config = await with_tariff_prices(
                session, value_to_type(SiteChargingConfig, row.config)
            )
            plan, measured = await self.solve(session, row, config, request.present, request.now)
        # The points planned, so that a run moving on to "derived-state" clears them.
        points = {v.key: [v.station_id, v.evse_id, v.transaction_id] for v in request.present}
        async with self._db.sessions.begin() as session:
            stored = await session.get(SiteCharging, request.site_id)
            if stored is not None:
                self._keep(stored, plan, measured, points)
        return plan

    @activity.defn(name="plan_site_state")
    async def plan_site_state(self, request: SitePlanRequest) -> SitePlanOutcome:
        """Plan the site from what the database says now and store the plan's commands.

        Who is present: the site's active transactions on managed charging points
        (the newest on each). Cars of the last plan whose charging point is free now
        get their TxProfile cleared, before anything else is sent to that station; a
        new car on a point keeps the point's profile id, which its new profile
        replaces. ``stopping``: nothing planned, every profile of the last plan
        cleared. The outcome is small whatever the site's size: the commands stay
        in ``site_plan_commands`` for the gateway nodes to read.
        """
        async with self._db.sessions() as session:
            row = await self._row(session, request.site_id)
            config = await with_tariff_prices(
                session, value_to_type(SiteChargingConfig, row.config)
            )
            present: dict[str, PresentVehicle] = {}
            if not request.stopping and row.enabled:
                # Ordered by start: a newer car on a point replaces the older.
                for vehicle in await present_at_site(session, request.site_id, config):
                    present[vehicle.key] = vehicle
            previous: dict[str, list[Any]] = (row.last_plan or {}).get("points", {})
            plan: SitePlan | None = None
            measured: tuple[dict[str, Any], str, float] | None = None
            if not request.stopping:
                plan, measured = await self.solve(
                    session, row, config, list(present.values()), request.now
                )
        by_station: dict[str, list[dict[str, Any]]] = {}
        cleared = 0
        for key, (station_id, evse_id, _) in previous.items():
            if key not in present:
                clear = CommandRequest.of(
                    station_id,
                    # By criteria, not id: the planner's TxProfile on that EVSE (its
                    # transaction has ended), on the planner's stack level only, so an
                    # operator's own profile there stays.
                    ClearChargingProfile(
                        evse_id=evse_id, purpose="TxProfile", stack_level=PLANNER_TX_STACK_LEVEL
                    ),
                    f"{request.site_id}-clear-{key}-{request.now.timestamp():.0f}",
                )
                by_station.setdefault(station_id, []).append(to_json(clear))
                cleared += 1
        for command in plan.requests if plan is not None else []:
            by_station.setdefault(command.station_id, []).append(to_json(command))
        points = {v.key: [v.station_id, v.evse_id, v.transaction_id] for v in present.values()}
        async with self._db.sessions.begin() as session:
            stored = await self._row(session, request.site_id)
            stored.plan_number += 1
            number = stored.plan_number
            await site_plans.store_commands(session, request.site_id, number, by_station)
            if plan is not None and measured is not None:
                self._keep(stored, plan, measured, points)
            else:
                stored.last_plan = None
        return SitePlanOutcome(
            site_id=request.site_id,
            plan=number,
            stations=sorted(by_station),
            vehicles=sorted(points),
            cleared=cleared,
            summary=plan.summary if plan is not None else f"**cleared** {cleared} profiles",
        )

    async def arrival_profile(
        self, session: Any, site_id: str, station_id: str, evse_id: int, now: datetime
    ) -> ChargingProfile | None:
        """The TxProfile the planner would give a vehicle arriving now at this charging
        point (the site's defaults for its need), with the vehicles present: what a
        remote start carries at a smart-charged site. None: the site is not
        smart-charged, or does not manage that charging point. Reads only."""
        row = await session.get(SiteCharging, site_id)
        if row is None or not row.enabled:
            return None
        config = await with_tariff_prices(session, value_to_type(SiteChargingConfig, row.config))
        if (station_id, evse_id) not in {(c.station_id, c.evse_id) for c in config.chargers}:
            return None
        key = f"{station_id}#{evse_id}"
        present = [v for v in await present_at_site(session, site_id, config) if v.key != key]
        arriving = PresentVehicle(key, station_id, evse_id, "remote-start", now, None)
        plan, _ = await self.solve(session, row, config, [*present, arriving], now)
        for request in plan.requests:
            if request.station_id != station_id or request.command != "set-charging-profile":
                continue
            profile = value_to_type(ChargingProfile, request.arguments["profile"])
            if profile.purpose == "TxProfile" and profile.connector == evse_id:
                return profile
        return None

    @staticmethod
    async def _row(session: Any, site_id: str) -> SiteCharging:
        row = await session.get(SiteCharging, site_id)
        if row is None:
            raise ApplicationError(
                f"site {site_id} has no smart-charging configuration",
                type="NotConfigured",
                non_retryable=True,
            )
        return row

    async def solve(
        self,
        session: Any,
        row: SiteCharging,
        config: SiteChargingConfig,
        vehicles: Sequence[PresentVehicle],
        now: datetime,
        without_event: str | None = None,
    ) -> tuple[SitePlan, tuple[dict[str, Any], str, float]]:
        """The plan for ``vehicles`` now (as if ``without_event`` had not been sent: a
        demand-response baseline), and the load measurement it started from (the
        next mark, the billing month, the month's peak). Reads only."""
        fleet = row.fleet_needs or {}
        present = []
        received: dict[str, tuple[float, datetime]] = {}
        for vehicle in vehicles:
            need, departure, delivered = await self._need(
                session, config, vehicle, fleet.get(vehicle.key)
            )
            present.append((vehicle, need, departure))
            received[f"{vehicle.station_id}|{vehicle.transaction_id}"] = (
                delivered,
                vehicle.arrived_at,
            )
        mark, load_kw, drew = measure_load(row.load_mark, now, received)
        month = billing_month(now, config.time_zone)
        month_peak = (row.month_peak_kw or 0.0) if row.peak_month == month else 0.0
        since = datetime.fromisoformat(row.load_mark["at"]) if row.load_mark else now
        if load_kw is not None:
            month_peak = max(month_peak, load_kw)
        # What each car drew against what the last plan gave it, over the interval just
        # measured (not over a long gap: the site was not planned, so no offer stood).
        if load_kw is not None and now - since <= CAPS_FROM_AT_MOST:
            gave = {
                f"{v.station_id}|{v.transaction_id}": planned_at(row.last_plan, v.key, since)
                for v in vehicles
            }
            mark["caps"] = draw_caps(mark.get("caps", {}), drew, gave)
        caps = {
            v.key: mark["caps"][f"{v.station_id}|{v.transaction_id}"]
            for v in vehicles
            if f"{v.station_id}|{v.transaction_id}" in mark.get("caps", {})
        }
        # Limits set by an EMS or the grid operator at the station cap its cars too.
        for key, kw in (await external_limits.caps_kw(session, config.chargers, now)).items():
            caps[key] = min(caps.get(key, kw), kw)
        # A car the charger says takes nothing now (SuspendedEV) is offered only the
        # pilot's minimum, so it can resume, and the rest goes to the others at once.
        paused = await stations.suspended_by_ev(
            session, [(v.station_id, v.evse_id, v.arrived_at) for v in vehicles]
        )
        for v in vehicles:
            if (v.station_id, v.evse_id) in paused:
                caps[v.key] = 0.0
        start = slot_start(now, config.slot_minutes)
        slot = timedelta(minutes=config.slot_minutes)
        slots = config.horizon_hours * 60 // config.slot_minutes
        asks = await demand_response.asks_for_site(
            session, row.site_id, start, start + slots * slot
        )
        asked = demand_response.per_slot(
            [a for a in asks if a.event_id != without_event],
            start,
            slot,
            slots,
            config.connection_kw,
        )
        problem = site_problem(config, present, start, month_peak, caps, asked)
        tx_ids = {v.key: v.transaction_id for v, _, _ in present}
        # CPU-bound: off the worker's event loop.
        schedule, planned = await asyncio.to_thread(
            solve_with_profiles, config, problem, start, tx_ids
        )
        requests = [
            CommandRequest.of(
                station_id,
                SetChargingProfile(profile=p),
                f"{row.site_id}-{start:%Y%m%d%H%M}-{station_id}-{p.profile_id}-{now.timestamp():.0f}",
            )
            for station_id, station_profiles in planned.by_station.items()
            for p in station_profiles
        ]
        plan = SitePlan(
            site_id=row.site_id,
            planned_at=start,
            slot_minutes=config.slot_minutes,
            power_kw={k: [round(x, 3) for x in v] for k, v in schedule.power_kw.items()},
            site_limit_kw=[problem.site_limit(t) for t in range(problem.slots)],
            price_per_kwh=list(problem.tariff.price_per_kwh),
            energy_cost=round(schedule.energy_cost, 4),
            peak_kw=round(schedule.peak_kw, 3),
            shortfall_kwh=schedule.shortfall_kwh,
            summary=_summary(problem, schedule.power_kw, schedule.peak_kw)
            + (f" · demand response: {', '.join(asked.events)}" if asked.any else ""),
            month_peak_kw=round(month_peak, 3),
            build_s=schedule.build_s,
            solve_s=schedule.solve_s,
            requests=requests,
        )
        return plan, (mark, month, month_peak)

    @staticmethod
    def _keep(
        row: SiteCharging,
        plan: SitePlan,
        measured: tuple[dict[str, Any], str, float],
        points: dict[str, list[Any]],
    ) -> None:
        """The plan (for the API) and the load measurement, on the site's row."""
        record = {k: v for k, v in asdict(plan).items() if k != "requests"}
        record["points"] = points
        row.last_plan = to_json(record)
        row.planned_at = plan.planned_at
        row.load_mark, row.peak_month, row.month_peak_kw = measured

    async def _need(
        self,
        session: Any,
        config: SiteChargingConfig,
        vehicle: PresentVehicle,
        planned: dict[str, Any] | None,
    ) -> tuple[float, datetime | None, float]:
        """kWh the vehicle still needs, when it leaves, and the kWh it has received: the
        need from what the vehicle reported (2.x), else an applied fleet plan's
        expectation for its charging point, else the site's defaults."""
        need_kwh, departure = config.default_energy_kwh, None
        if planned is not None:
            arrives = datetime.fromisoformat(planned["arrival"])
            leaves = datetime.fromisoformat(planned["departure"])
            # The plan's vehicle, if it came within two hours of when it was expected.
            if arrives - timedelta(hours=2) <= vehicle.arrived_at < leaves:
                need_kwh, departure = float(planned["energy_kwh"]), leaves
        # The newest needs this vehicle's EVSE reported since it arrived: a dual-port
        # charger's other car reports its own (the EVSE is inside the payload).
        reported = (
            await session.scalars(
                select(StationEvent)
                .where(StationEvent.station_id == vehicle.station_id)
                .where(StationEvent.kind == "EVChargingNeeds")
                .where(StationEvent.received_at >= vehicle.arrived_at - timedelta(minutes=5))
                .order_by(StationEvent.received_at.desc(), StationEvent.id.desc())
                .limit(50)
            )
        ).all()
        for event in reported:
            raw = event.payload.get("needs")
            if not raw:
                continue
            needs = value_to_type(ChargingNeeds, raw)
            if needs.evse_id != vehicle.evse_id:
                continue
            if needs.energy_wh is not None:
                need_kwh = needs.energy_wh / 1000
            if needs.departure is not None:
                departure = needs.departure
            break
        tx = await transactions.get_by_ref(session, vehicle.station_id, vehicle.transaction_id)
        if tx is None and vehicle.transaction_id.isdigit():
            tx = await session.get(Transaction, int(vehicle.transaction_id))
            if tx is not None and tx.station_id != vehicle.station_id:
                tx = None  # another station's transaction: never its energy
        delivered = 0.0
        if tx is not None:
            low, high = await meter_samples.energy_register_range(session, tx.station_id, tx.id)
            begin = tx.meter_start_wh if tx.meter_start_wh is not None else low
            if begin is not None and high is not None:
                delivered = max(0.0, (high - begin) / 1000)
        return max(0.0, need_kwh - delivered), departure, delivered


def tariff_prices(config: SiteChargingConfig, tariff: BillingTariff) -> SiteChargingConfig:
    """``config`` with its prices from ``tariff``'s energy prices by time of day;
    ValueError when the tariff leaves some time of day without one."""
    bands = [PriceBand(a, b, float(price)) for a, b, price in energy_bands(tariff)]
    return dataclasses.replace(config, prices=bands)


async def with_tariff_prices(session: Any, config: SiteChargingConfig) -> SiteChargingConfig:
    """The configuration as it plans now: prices from its tariff when it names one
    (a tariff gone or unusable leaves the bands last read, and says so)."""
    if config.tariff_id is None:
        return config
    row = await tariff_rows.latest(session, config.tariff_id)
    if row is None:
        log.warning("tariff %s is gone: planning with the prices last read", config.tariff_id)
        return config
    try:
        return tariff_prices(config, tariff_rows.as_tariff(row))
    except ValueError as error:
        log.warning("tariff %s: %s; planning with the prices last read", config.tariff_id, error)
        return config


def check_prices(config: SiteChargingConfig) -> None:
    """Raise ``ValueError`` unless every slot of the day has a price."""
    depot = depot_of(config)
    day = datetime(2000, 1, 1, tzinfo=UTC)
    for t in range(24 * 60 // config.slot_minutes):
        depot.price_at(day + timedelta(minutes=t * config.slot_minutes))


def charger_setups(config: SiteChargingConfig) -> dict[str, profiles.ChargerSetup]:
    """How each charging point (``station#evse``) takes limits."""
    return {
        f"{c.station_id}#{c.evse_id}": profiles.ChargerSetup(
            c.station_id, c.evse_id, c.rate_unit, c.phase_count, c.voltage_v
        )
        for c in config.chargers
    }


def solve_with_profiles(
    config: SiteChargingConfig, problem: SiteProblem, start: datetime, tx_ids: dict[str, str]
) -> tuple[Schedule, profiles.ProfileSet]:
    """Solve, turn the schedule into profiles, and prove that the profiles, as the
    chargers will combine them, keep the tree within its limits before any is sent."""
    # Then onto the chargers' pilot grid: nothing between off and the minimum current.
    schedule = pilot.to_pilot(problem, lp.solve(problem))
    setups = charger_setups(config)
    planned = profiles.plan_profiles(problem, schedule, setups, start, transactions=tx_ids)
    broken = profiles.check(problem, planned, setups, start)
    if broken:
        raise ApplicationError(
            f"the plan's profiles would break limits: {'; '.join(broken[:5])}",
            type="ProfilesBreakLimits",
            non_retryable=True,
        )
    return schedule, planned


def depot_of(config: SiteChargingConfig) -> Depot:
    """The site as the fleet planner sees it (chargers named ``station#evse``)."""
    return Depot(
        chargers=[
            DepotCharger(
                f"{c.station_id}#{c.evse_id}",
                c.max_kw,
                phases=c.phases,
                circuit=c.circuit or "depot",
            )
            for c in config.chargers
        ],
        connection_kw=config.connection_kw,
        prices=[TimeOfUse(b.start_hour, b.end_hour, b.price_per_kwh) for b in config.prices],
        demand_charge_per_kw=config.demand_charge_per_kw,
        circuits=[
            Circuit(
                c.id,
                c.limit_kw,
                c.parent or "depot",
                config.phase_limit(c.phase_limit_kw, c.phase_limit_a),
            )
            for c in config.circuits
        ],
        time_zone=config.time_zone,
    )


def _summary(problem: SiteProblem, power: dict[str, list[float]], peak: float) -> str:
    """The next two hours at a glance, for the workflow's details in the Temporal UI."""
    per_hour = round(1 / problem.slot_hours)
    totals = [sum(series[t] for series in power.values()) for t in range(problem.slots)]
    upcoming = " · ".join(f"{kw:.1f}" for kw in totals[: 2 * per_hour])
    return (
        f"**planned** {len(problem.vehicles)} vehicles · next 2 h (kW per "
        f"{round(problem.slot_hours * 60)} min): {upcoming} · peak {peak:.1f} kW of "
        f"{problem.root.limit_kw:.0f} kW"
    )
