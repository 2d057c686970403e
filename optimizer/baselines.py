"""Schedules to compare the LP with: uncontrolled charging, and two limit-respecting
greedy policies (earliest deadline first, least laxity first)."""

from __future__ import annotations

from collections.abc import Callable

from optimizer.capacity import Capacity
from optimizer.evaluate import evaluate
from optimizer.problem import Schedule, SiteProblem, Vehicle


def uncontrolled(problem: SiteProblem) -> Schedule:
    """Every vehicle charges at full power from arrival until full, ignoring every limit."""
    chargers = {c.id: c for c in problem.chargers}
    h = problem.slot_hours
    plan: dict[str, list[float]] = {}
    for vehicle in problem.vehicles:
        cap = min(vehicle.max_kw, chargers[vehicle.charger].max_kw)
        left = vehicle.energy_kwh
        series = [0.0] * problem.slots
        for t in range(vehicle.arrival, vehicle.departure):
            if left <= 1e-9:
                break
            series[t] = min(cap, left / h)
            left -= series[t] * h
        plan[vehicle.id] = series
    return evaluate(problem, plan, "uncontrolled")


Priority = Callable[[Vehicle, int, float], float]


def _greedy(problem: SiteProblem, priority: Priority, method: str) -> Schedule:
    """Slot by slot, vehicles in priority order take what the tree (and their charger,
    which vehicles following each other on it share) still allows."""
    capacity = Capacity(problem)
    h = problem.slot_hours
    left = {v.id: v.energy_kwh for v in problem.vehicles}
    plan = {v.id: [0.0] * problem.slots for v in problem.vehicles}
    for t in range(problem.slots):
        room = capacity.slot(t)
        present = [
            v for v in problem.vehicles if v.arrival <= t < v.departure and left[v.id] > 1e-9
        ]
        present.sort(key=lambda v: priority(v, t, left[v.id]))
        for vehicle in present:
            kw = min(vehicle.max_kw, left[vehicle.id] / h, room.most(vehicle.charger))
            if kw <= 1e-9:
                continue
            room.take(vehicle.charger, kw)
            plan[vehicle.id][t] = kw
            left[vehicle.id] -= kw * h
    return evaluate(problem, plan, method)


def earliest_deadline_first(problem: SiteProblem) -> Schedule:
    """The vehicle leaving soonest charges first, within every limit."""
    return _greedy(problem, lambda v, t, left: v.departure, "earliest deadline first")


def least_laxity_first(problem: SiteProblem) -> Schedule:
    """The vehicle with the least slack (time left minus time still needed at full
    power) charges first, within every limit."""
    h = problem.slot_hours

    def laxity(vehicle: Vehicle, t: int, left: float) -> float:
        return (vehicle.departure - t) * h - left / vehicle.max_kw

    return _greedy(problem, laxity, "least laxity first")
