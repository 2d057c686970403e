"""Pilot-signal reality: turn a continuous plan into one chargers can follow.

IEC 61851 and SAE J1772 chargers tell the car its current on the control pilot.
Below 6 A the car cannot charge at all, and many chargers take only whole
amperes or coarser steps. The LP plans continuous power; :func:`to_pilot` makes
every charger-slot either off or at least the charger's minimum, on its steps
(``Charger.min_kw``, ``Charger.step_kw``, from the charger's minimum current,
current step, voltage and wiring), within every limit.

Slot by slot, most urgent vehicle first (earliest departure): each gets its
planned power plus what rounding withheld from it earlier, rounded down to its
grid; then vehicles left below what they wanted are raised to the next grid
point where the room allows. An offer may exceed what the car draws (a 7.4 kW
car on a three-phase charger is offered 11 A and draws its 7.4 kW; a last slot
offers 6 A to a car that needs less): the plan keeps both. What the cars draw
in a slot never exceeds what the LP planned for it, so rounding never raises
the peak; energy rounding cannot place before a vehicle leaves is reported in
the schedule's notes.
"""

from __future__ import annotations

import math

from optimizer.capacity import Capacity
from optimizer.evaluate import evaluate
from optimizer.problem import Charger, Schedule, SiteProblem, Vehicle

EPS = 1e-9


def grid_down(kw: float, charger: Charger) -> float:
    """The highest power at most ``kw`` the charger can signal (0 below its minimum)."""
    if kw < charger.min_kw - 1e-6 or kw <= EPS:
        return 0.0
    if charger.step_kw <= 0:
        return max(kw, charger.min_kw)
    steps = math.floor((kw - charger.min_kw) / charger.step_kw + 1e-6)
    return charger.min_kw + steps * charger.step_kw


def grid_up(kw: float, charger: Charger) -> float:
    """The lowest power at least ``kw`` the charger can signal."""
    if kw <= EPS:
        return 0.0
    if kw <= charger.min_kw:
        return charger.min_kw
    if charger.step_kw <= 0:
        return kw
    steps = math.ceil((kw - charger.min_kw) / charger.step_kw - 1e-6)
    return charger.min_kw + steps * charger.step_kw


def off_grid(problem: SiteProblem, power: dict[str, list[float]]) -> list[str]:
    """Every charger-slot of ``power`` that a pilot signal cannot express."""
    chargers = {c.id: c for c in problem.chargers}
    found = []
    for vehicle in problem.vehicles:
        charger = chargers[vehicle.charger]
        for t, kw in enumerate(power.get(vehicle.id, [])):
            if kw > 1e-6 and abs(grid_down(kw + 1e-6, charger) - kw) > 1e-5:
                found.append(f"{vehicle.id} slot {t}: {kw:.4f} kW is not a pilot value")
    return found


def to_pilot(problem: SiteProblem, schedule: Schedule) -> Schedule:
    """``schedule`` as pilot offers chargers can signal, and what the cars will draw.

    The result's ``pilot_kw`` holds the offers: off or on the charger's grid, which
    the profiles send. Its ``power_kw`` holds the draws: the offer, or less where the
    car takes less (its own maximum between two steps, a last slot that fills it).
    Capacity is accounted at the offers, as the profile check will see them.
    """
    chargers = {c.id: c for c in problem.chargers}
    if all(c.min_kw <= 0 and c.step_kw <= 0 for c in chargers.values()):
        return schedule
    h = problem.slot_hours
    zeros = [0.0] * problem.slots
    planned = schedule.power_kw
    left = {v.id: v.energy_kwh for v in problem.vehicles}
    owed = {v.id: 0.0 for v in problem.vehicles}  # kWh the plan gave that rounding withheld
    offers = {v.id: [0.0] * problem.slots for v in problem.vehicles}
    draws = {v.id: [0.0] * problem.slots for v in problem.vehicles}
    capacity = Capacity(problem)
    for t in range(problem.slots):
        present = [
            v for v in problem.vehicles if v.arrival <= t < v.departure and left[v.id] > 1e-9
        ]
        # Offers take the tree's room (as the profile check reads them); what the cars
        # draw stays within the EV load the LP planned for the slot.
        room = capacity.slot(t)
        envelope = sum(planned.get(v.id, zeros)[t] for v in present) + 1e-6
        present.sort(key=lambda v: (v.departure, v.id))
        wanted: dict[str, float] = {}
        for vehicle in present:
            charger = chargers[vehicle.charger]
            draw = _most_draw(vehicle, charger, left[vehicle.id] / h)
            want = planned.get(vehicle.id, zeros)[t] + owed[vehicle.id] / h
            wanted[vehicle.id] = min(draw, max(0.0, want))
            # A car limited by itself (its maximum, its need) takes no more than that
            # from a higher offer; any other offer is what the car draws.
            limited = wanted[vehicle.id] >= draw - 1e-9
            target = _offer_for(wanted[vehicle.id], charger) if limited else wanted[vehicle.id]
            offer = grid_down(min(target, room.most(vehicle.charger)), charger)
            if min(offer, draw) > envelope:  # the car would draw above the LP's load
                offer = grid_down(max(0.0, envelope), charger)
            room.take(vehicle.charger, offer)
            envelope -= min(offer, draw)
            offers[vehicle.id][t] = offer
        for vehicle in present:
            charger = chargers[vehicle.charger]
            offer = offers[vehicle.id][t]
            draw = _most_draw(vehicle, charger, left[vehicle.id] / h)
            if min(offer, draw) >= wanted[vehicle.id] - 1e-6:
                continue
            up = _offer_for(wanted[vehicle.id], charger)
            more = min(up, draw) - min(offer, draw)
            if up - offer <= room.most(vehicle.charger) and more <= envelope:
                room.take(vehicle.charger, up - offer)
                envelope -= more
                offers[vehicle.id][t] = up
        for vehicle in present:
            offer = offers[vehicle.id][t]
            kw = min(offer, vehicle.max_kw, left[vehicle.id] / h)
            draws[vehicle.id][t] = kw
            left[vehicle.id] = max(0.0, left[vehicle.id] - kw * h)
            owed[vehicle.id] += (planned.get(vehicle.id, zeros)[t] - kw) * h
    result = evaluate(problem, draws, schedule.method)
    result.pilot_kw = offers
    result.status = schedule.status
    result.build_s, result.solve_s = schedule.build_s, schedule.solve_s
    result.notes = list(schedule.notes)
    lost = sum(schedule.delivered_kwh.values()) - sum(result.delivered_kwh.values())
    if lost > 1e-3:
        result.notes.append(f"pilot rounding (minimum current, steps) placed {lost:.2f} kWh less")
    return result


def _most_draw(vehicle: Vehicle, charger: Charger, need_kw: float) -> float:
    """The most a car can draw in a slot: its own maximum, the charger's highest pilot
    value, what it still needs."""
    return min(vehicle.max_kw, grid_down(charger.max_kw, charger), need_kw)


def _offer_for(draw: float, charger: Charger) -> float:
    """The pilot offer that lets the car draw ``draw``: the grid value just above it,
    so a car limited by its own maximum or its need still gets all of it (it takes no
    more), within the charger's highest value."""
    if draw <= EPS:
        return 0.0
    return min(grid_up(draw, charger), grid_down(charger.max_kw, charger))
