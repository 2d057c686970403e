"""Cost, peak and limit checks of any schedule, the same way for the LP and the baselines."""

from __future__ import annotations

import numpy as np

from optimizer.network import LINES, phasor
from optimizer.problem import Schedule, SiteProblem

TOLERANCE_KW = 1e-6


def site_import(problem: SiteProblem, power: dict[str, list[float]]) -> list[float]:
    """The site connection's load per slot: base load plus every vehicle."""
    load = [problem.base(t) for t in range(problem.slots)]
    for series in power.values():
        for t, kw in enumerate(series):
            load[t] += kw
    return load


def evaluate(problem: SiteProblem, power: dict[str, list[float]], method: str) -> Schedule:
    """The schedule ``power`` with its delivered energy, shortfalls, costs and peak."""
    h = problem.slot_hours
    delivered = {v.id: sum(power.get(v.id, [])) * h for v in problem.vehicles}
    shortfall = {
        v.id: max(0.0, v.energy_kwh - delivered[v.id])
        for v in problem.vehicles
        if v.energy_kwh - delivered[v.id] > 1e-6
    }
    prices = problem.tariff.price_per_kwh
    energy_cost = sum(kw * h * prices[t] for s in power.values() for t, kw in enumerate(s))
    load = site_import(problem, power)
    peak = max([problem.tariff.peak_so_far_kw, *load]) if load else 0.0
    demand_cost = problem.tariff.demand_charge_per_kw * problem.tariff.demand_charge_share * peak
    return Schedule(
        power_kw=power,
        delivered_kwh=delivered,
        shortfall_kwh=shortfall,
        energy_cost=energy_cost,
        demand_cost=demand_cost,
        peak_kw=peak,
        method=method,
    )


def violations(problem: SiteProblem, power: dict[str, list[float]]) -> list[str]:
    """Every limit the schedule breaks (empty when it respects them all).

    Checked: each vehicle only charges while plugged in, within its and its
    charger's maximum, never beyond its need; the vehicles on one charger together
    within its maximum; each circuit's total in every slot, and the current on each
    of its lines where it has a phase limit, as the length of the complex sum of
    its chargers' currents (:mod:`optimizer.network`); the site connection's
    (time-varying) limit with the base load. Vectorised (a vehicles x slots
    matrix), since every plan goes through it before use.
    """
    found: list[str] = []
    slots, h = problem.slots, problem.slot_hours
    vehicles = list(problem.vehicles)
    chargers = list(problem.chargers)
    charger_index = {c.id: i for i, c in enumerate(chargers)}
    zeros = [0.0] * slots
    load = np.array([power.get(v.id, zeros) for v in vehicles], dtype=float).reshape(
        len(vehicles), slots
    )
    index = np.arange(slots)
    for n, vehicle in enumerate(vehicles):
        series = load[n]
        cap = min(vehicle.max_kw, chargers[charger_index[vehicle.charger]].max_kw)
        for t in np.flatnonzero(series < -TOLERANCE_KW):
            found.append(f"{vehicle.id} slot {t}: negative power {series[t]:.3f}")
        away = (index < vehicle.arrival) | (index >= vehicle.departure)
        for t in np.flatnonzero((series > TOLERANCE_KW) & away):
            found.append(f"{vehicle.id} slot {t}: charging while not plugged in")
        for t in np.flatnonzero(series > cap + TOLERANCE_KW):
            found.append(f"{vehicle.id} slot {t}: {series[t]:.3f} kW above its {cap} kW")
        if series.sum() * h > vehicle.energy_kwh + 1e-6:
            found.append(f"{vehicle.id}: more energy than it needs")
    # Per charger, then per circuit from its chargers (each with its phase shares).
    on_charger = np.zeros((len(chargers), slots))
    np.add.at(on_charger, [charger_index[v.charger] for v in vehicles], load)
    ratings = np.array([c.max_kw for c in chargers], dtype=float)
    over_rating = on_charger > ratings[:, None] + TOLERANCE_KW
    for c, t in zip(*np.nonzero(over_rating), strict=True):
        found.append(
            f"charger {chargers[c].id} slot {t}: {on_charger[c, t]:.3f} kW "
            f"above its {chargers[c].max_kw} kW"
        )
    below = {c.id: np.zeros(len(chargers)) for c in problem.circuits}
    for i, charger in enumerate(chargers):
        for circuit in problem.ancestors(charger.circuit):
            below[circuit.id][i] = 1.0
    currents = {
        line: np.array([phasor(c.phases, n) for c in chargers], dtype=complex)
        for n, line in enumerate(LINES)
    }
    base = np.array([problem.base(t) for t in range(slots)])
    for circuit in problem.circuits:
        on_circuit = below[circuit.id] @ on_charger
        if circuit.parent is None:
            limit = np.array([problem.site_limit(t) for t in range(slots)])
            extra = base
        else:
            limit, extra = np.full(slots, circuit.limit_kw), np.zeros(slots)
        # A base load above the limit is not the chargers' doing: they must then
        # draw nothing, which is all that can be asked of them.
        over = on_circuit > np.maximum(0.0, limit - extra) + TOLERANCE_KW
        for t in np.flatnonzero(over):
            found.append(
                f"{circuit.id} slot {t}: {on_circuit[t] + extra[t]:.3f} kW "
                f"above {float(limit[t])} kW"
            )
        if circuit.phase_limit_kw is not None:
            for line in LINES:
                # Base load: balanced, in phase with each line's voltage. A line that
                # the base load alone overloads may carry no more than it (chargers
                # draw nothing there); exported power (negative base) is not counted
                # (optimizer.network: chargers within the limit keep the line within
                # the larger of the limit and the export).
                own = np.maximum(extra, 0.0) / 3
                amps = np.abs((below[circuit.id] * currents[line]) @ on_charger + own)
                room = np.maximum(circuit.phase_limit_kw, own)
                for t in np.flatnonzero(amps > room + TOLERANCE_KW):
                    found.append(
                        f"{circuit.id} {line} slot {t}: {amps[t]:.3f} kW per phase "
                        f"above {circuit.phase_limit_kw} kW"
                    )
    return found
