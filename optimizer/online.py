"""A site planned online, as its workflow plans it, against the offline optimum.

Online, the site knows a vehicle only once it has arrived, and its departure
only as the driver's estimate: it re-plans at each arrival and departure with
the vehicles present and the energy each still needs, and follows the plan
until the next event. Offline, one program knows every arrival and every
actual departure in advance: the best any planner could have done, and the
yardstick of the online policies (:func:`compare`).

The site problem's ``tariff.peak_so_far_kw`` is the month's peak before the
day: the demand charge of every outcome is on the higher of it and the day's peak.
Pure: no I/O, no clock. Slots are the site problem's; the day is one horizon.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from optimizer.evaluate import site_import, violations
from optimizer.lp import solve
from optimizer.problem import Schedule, SiteProblem, Tariff, Vehicle


@dataclass(frozen=True)
class Visit:
    """A vehicle's visit: when it comes, when it says it leaves, when it does."""

    vehicle: Vehicle  # arrival, actual departure, need, rating, charger
    estimated_departure: int

    @property
    def id(self) -> str:
        """The vehicle's id."""
        return self.vehicle.id


@dataclass
class Outcome:
    """What a policy achieved on a day: the power it drew and what that cost."""

    policy: str
    power_kw: dict[str, list[float]]
    delivered_kwh: float
    needed_kwh: float
    energy_cost: float
    demand_cost: float
    peak_kw: float
    replans: int = 0
    solve_s: list[float] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    @property
    def total_cost(self) -> float:
        """Energy plus demand charge on the day's peak."""
        return self.energy_cost + self.demand_cost

    @property
    def delivered_share(self) -> float:
        """Energy delivered over energy needed."""
        return self.delivered_kwh / self.needed_kwh if self.needed_kwh else 1.0


Planner = Callable[[SiteProblem], Schedule]

POLICIES = ("replan", "peak-carried", "hedged")
"""How the online site re-plans: "replan" as if each plan began the day (what the
site workflow does today); "peak-carried" with the day's peak so far as the floor
of the peak it plans (already paid for, so headroom below it costs nothing);
"hedged" also treats the last ``margin`` slots before each driver's estimate as
uncertain (``Vehicle.sure_until``): energy is planned before them whenever the
headroom under the peak allows, whatever the price."""


def offline(site: SiteProblem, visits: Sequence[Visit]) -> Outcome:
    """Every arrival and actual departure known in advance: one solve for the day."""
    problem = replace(site, vehicles=[v.vehicle for v in visits])
    schedule = solve(problem)
    outcome = _outcome("offline", problem, schedule.power_kw)
    outcome.replans, outcome.solve_s = 1, [schedule.solve_s]
    return outcome


def online(
    site: SiteProblem,
    visits: Sequence[Visit],
    *,
    policy: str = "replan",
    planner: Planner = solve,
    margin: int = 12,
) -> Outcome:
    """Re-plan at each arrival and departure with what is known then (the vehicles
    present, what each still needs, the driver's estimate of its departure) and
    follow the plan until the next event; ``policy`` is one of :data:`POLICIES`."""
    slots, h = site.slots, site.slot_hours
    power = {v.id: [0.0] * slots for v in visits}
    delivered = {v.id: 0.0 for v in visits}
    events = sorted(
        {v.vehicle.arrival for v in visits} | {v.vehicle.departure for v in visits} | {0}
    )
    plan: dict[str, list[float]] = {}
    plan_start = 0
    replans = 0
    solve_times: list[float] = []
    peak = 0.0
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r} ({', '.join(POLICIES)})")
    for t in range(slots):
        present = [v for v in visits if v.vehicle.arrival <= t < v.vehicle.departure]
        if t in events:
            # The month's peak before today and today's so far are paid for already;
            # the site workflow today plans as if neither were.
            carried = policy in ("peak-carried", "hedged")
            floor = max(site.tariff.peak_so_far_kw, peak) if carried else 0.0
            hedge = margin if policy == "hedged" else None
            schedule = planner(_known_at(site, present, delivered, t, floor, hedge))
            plan, plan_start = schedule.power_kw, t
            replans += 1
            solve_times.append(schedule.solve_s)
        load = site.base(t)
        for visit in present:
            series = plan.get(visit.id)
            kw = series[t - plan_start] if series is not None else 0.0
            kw = max(0.0, min(kw, (visit.vehicle.energy_kwh - delivered[visit.id]) / h))
            power[visit.id][t] = kw
            delivered[visit.id] += kw * h
            load += kw
        peak = max(peak, load)
    full = replace(site, vehicles=[v.vehicle for v in visits])
    outcome = _outcome(policy, full, power)
    outcome.replans, outcome.solve_s = replans, solve_times
    return outcome


def _known_at(
    site: SiteProblem,
    present: Sequence[Visit],
    delivered: dict[str, float],
    now: int,
    peak_so_far: float,
    margin: int | None = None,
) -> SiteProblem:
    """The problem the site can state at slot ``now``: the rest of the day, the
    vehicles present with what they still need and the driver's estimate of when
    they leave (at least one slot: a car past its estimate is still plugged in)."""
    rest = site.slots - now
    vehicles = []
    for v in present:
        departure = max(1, min(rest, v.estimated_departure - now))
        vehicles.append(
            replace(
                v.vehicle,
                arrival=0,
                departure=departure,
                energy_kwh=max(0.0, v.vehicle.energy_kwh - delivered[v.id]),
                sure_until=(
                    None if margin is None else max(0, v.estimated_departure - margin - now)
                ),
            )
        )
    tariff = site.tariff
    return replace(
        site,
        slots=rest,
        vehicles=vehicles,
        tariff=Tariff(
            price_per_kwh=list(tariff.price_per_kwh[now:]),
            demand_charge_per_kw=tariff.demand_charge_per_kw,
            demand_charge_share=tariff.demand_charge_share,
            peak_so_far_kw=peak_so_far,
        ),
        base_load_kw=list(site.base_load_kw[now:]) if site.base_load_kw is not None else None,
        import_limit_kw=(
            list(site.import_limit_kw[now:]) if site.import_limit_kw is not None else None
        ),
    )


def _outcome(policy: str, problem: SiteProblem, power: dict[str, list[float]]) -> Outcome:
    h = problem.slot_hours
    prices = problem.tariff.price_per_kwh
    load = site_import(problem, power)
    peak = max([problem.tariff.peak_so_far_kw, *load])
    tariff = problem.tariff
    return Outcome(
        policy=policy,
        power_kw=power,
        delivered_kwh=sum(sum(s) for s in power.values()) * h,
        needed_kwh=sum(v.energy_kwh for v in problem.vehicles),
        energy_cost=sum(kw * h * prices[t] for s in power.values() for t, kw in enumerate(s)),
        demand_cost=tariff.demand_charge_per_kw * tariff.demand_charge_share * peak,
        peak_kw=peak,
        broken=violations(problem, power),
    )
