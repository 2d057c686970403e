"""An off-peak charging plan for a fleet depot, compared with charging on arrival.

Vehicles are described as a depot manager knows them (battery size, state of
charge now and wanted at departure, AC and DC power, when they come and go);
the plan assigns them to the depot's chargers, turns their needs into a site
problem, solves it with the LP and reports each vehicle's schedule, the cost,
the peak, and what charging at full power on arrival would have cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from optimizer.baselines import uncontrolled
from optimizer.lp import solve
from optimizer.problem import Charger, Circuit, PhaseWiring, Schedule, SiteProblem, Tariff, Vehicle


@dataclass(frozen=True)
class FleetVehicle:
    """A vehicle of the fleet, as the depot manager describes it."""

    id: str
    battery_kwh: float
    soc_now: float  # 0..1
    soc_departure: float  # 0..1
    arrival: datetime
    departure: datetime
    max_ac_kw: float = 11.0
    max_dc_kw: float = 0.0
    charger: str | None = None  # a fixed bay, or any free charger

    @property
    def need_kwh(self) -> float:
        """Energy to add before departure."""
        return max(0.0, (self.soc_departure - self.soc_now) * self.battery_kwh)


@dataclass(frozen=True)
class DepotCharger:
    """A charger of the depot."""

    id: str
    max_kw: float
    kind: Literal["AC", "DC"] = "AC"
    phases: PhaseWiring = "L123"
    circuit: str = "depot"


@dataclass(frozen=True)
class TimeOfUse:
    """A price that applies every day from ``start_hour`` to ``end_hour`` (may wrap midnight)."""

    start_hour: float
    end_hour: float
    price_per_kwh: float

    def covers(self, hour: float) -> bool:
        """Whether the band applies at ``hour`` of the day."""
        if self.start_hour <= self.end_hour:
            return self.start_hour <= hour < self.end_hour
        return hour >= self.start_hour or hour < self.end_hour


@dataclass(frozen=True)
class Depot:
    """The depot's chargers, connection and tariff."""

    chargers: Sequence[DepotCharger]
    connection_kw: float
    prices: Sequence[TimeOfUse]
    demand_charge_per_kw: float = 0.0
    peak_so_far_kw: float = 0.0
    circuits: Sequence[Circuit] = ()  # below the connection; chargers name them
    # The IANA time zone the price bands' hours are in (a night tariff from 22:00
    # is 22:00 local time, in summer and in winter).
    time_zone: str = "UTC"

    def price_at(self, moment: datetime) -> float:
        """The energy price at ``moment`` (the first band that covers its local time)."""
        moment = moment.astimezone(ZoneInfo(self.time_zone))
        hour = moment.hour + moment.minute / 60
        for band in self.prices:
            if band.covers(hour):
                return band.price_per_kwh
        raise ValueError(f"no price covers {moment:%H:%M}")


@dataclass
class FleetPlan:
    """The plan, its cost and the comparison with charging on arrival."""

    start: datetime
    slot_minutes: int
    problem: SiteProblem
    assignments: dict[str, str]
    schedule: Schedule
    on_arrival: Schedule
    unassigned: list[str] = field(default_factory=list)

    @property
    def saving(self) -> float:
        """Share of the on-arrival cost the plan saves."""
        base = self.on_arrival.total_cost
        return 1 - self.schedule.total_cost / base if base else 0.0


def assign(vehicles: Sequence[FleetVehicle], chargers: Sequence[DepotCharger]) -> dict[str, str]:
    """Vehicles to chargers: fixed bays first, then earliest arrival to the first charger
    free for the whole stay (DC preferred for vehicles that take it)."""
    taken: dict[str, list[tuple[datetime, datetime]]] = {c.id: [] for c in chargers}
    result: dict[str, str] = {}
    for vehicle in sorted(vehicles, key=lambda v: (v.charger is None, v.arrival)):
        options = [c for c in chargers if vehicle.charger in (None, c.id)]
        options.sort(key=lambda c: (c.kind != "DC" or vehicle.max_dc_kw <= 0, -c.max_kw))
        for charger in options:
            if all(
                vehicle.departure <= begin or vehicle.arrival >= end
                for begin, end in taken[charger.id]
            ):
                taken[charger.id].append((vehicle.arrival, vehicle.departure))
                result[vehicle.id] = charger.id
                break
    return result


def plan(
    depot: Depot,
    vehicles: Sequence[FleetVehicle],
    start: datetime,
    *,
    hours: int = 24,
    slot_minutes: int = 15,
    demand_charge_share: float = 1.0,
) -> FleetPlan:
    """Plan the fleet's charging over ``hours`` from ``start``."""
    slots = hours * 60 // slot_minutes
    step = timedelta(minutes=slot_minutes)

    def slot_of(moment: datetime) -> int:
        return max(0, min(slots, round((moment - start) / step)))

    assignments = assign(vehicles, depot.chargers)
    by_id = {c.id: c for c in depot.chargers}
    stays = []
    for vehicle in vehicles:
        charger_id = assignments.get(vehicle.id)
        if charger_id is None:
            continue
        charger = by_id[charger_id]
        max_kw = vehicle.max_dc_kw if charger.kind == "DC" else vehicle.max_ac_kw
        stays.append(
            Vehicle(
                vehicle.id,
                charger_id,
                slot_of(vehicle.arrival),
                slot_of(vehicle.departure),
                vehicle.need_kwh,
                max(0.0, min(max_kw, charger.max_kw)),
            )
        )
    problem = SiteProblem(
        slot_hours=slot_minutes / 60,
        slots=slots,
        circuits=[Circuit("depot", depot.connection_kw), *depot.circuits],
        chargers=[Charger(c.id, c.circuit, c.max_kw, c.phases) for c in depot.chargers],
        vehicles=stays,
        tariff=Tariff(
            price_per_kwh=[depot.price_at(start + t * step) for t in range(slots)],
            demand_charge_per_kw=depot.demand_charge_per_kw,
            demand_charge_share=demand_charge_share,
            peak_so_far_kw=depot.peak_so_far_kw,
        ),
    )
    return FleetPlan(
        start=start,
        slot_minutes=slot_minutes,
        problem=problem,
        assignments=assignments,
        schedule=solve(problem),
        on_arrival=uncontrolled(problem),
        unassigned=[v.id for v in vehicles if v.id not in assignments],
    )
