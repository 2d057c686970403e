"""Cost, peak and limit checks of any schedule, the same way for the LP and the baselines."""

from __future__ import annotations

from collections import defaultdict

from optimizer.problem import PhaseWiring, Schedule, SiteProblem

TOLERANCE_KW = 1e-6

PHASES = ("L1", "L2", "L3")


def phase_share(wiring: PhaseWiring, phase: str) -> float:
    """The share of a charger's power drawn on ``phase``."""
    if wiring == "L123":
        return 1 / 3
    return 1.0 if wiring == phase else 0.0


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
    charger's maximum, never beyond its need; each circuit's total and per-phase
    limit in every slot; the site connection's (time-varying) limit with the
    base load.
    """
    found: list[str] = []
    chargers = {c.id: c for c in problem.chargers}
    h = problem.slot_hours
    circuit_load: dict[tuple[str, int], float] = defaultdict(float)
    phase_load: dict[tuple[str, str, int], float] = defaultdict(float)
    for vehicle in problem.vehicles:
        series = power.get(vehicle.id, [0.0] * problem.slots)
        charger = chargers[vehicle.charger]
        cap = min(vehicle.max_kw, charger.max_kw)
        for t, kw in enumerate(series):
            if kw < -TOLERANCE_KW:
                found.append(f"{vehicle.id} slot {t}: negative power {kw:.3f}")
            if kw > TOLERANCE_KW and not vehicle.arrival <= t < vehicle.departure:
                found.append(f"{vehicle.id} slot {t}: charging while not plugged in")
            if kw > cap + TOLERANCE_KW:
                found.append(f"{vehicle.id} slot {t}: {kw:.3f} kW above its {cap} kW")
            for circuit in problem.ancestors(charger.circuit):
                circuit_load[(circuit.id, t)] += kw
                for phase in PHASES:
                    phase_load[(circuit.id, phase, t)] += kw * phase_share(charger.phases, phase)
        if sum(series) * h > vehicle.energy_kwh + 1e-6:
            found.append(f"{vehicle.id}: more energy than it needs")
    for circuit in problem.circuits:
        for t in range(problem.slots):
            load = circuit_load[(circuit.id, t)]
            limit = circuit.limit_kw
            base = 0.0
            if circuit.parent is None:
                limit, base = problem.site_limit(t), problem.base(t)
            # A base load above the limit is not the chargers' doing: they must then
            # draw nothing, which is all that can be asked of them.
            if load > max(0.0, limit - base) + TOLERANCE_KW:
                found.append(f"{circuit.id} slot {t}: {load + base:.3f} kW above {limit} kW")
            if circuit.phase_limit_kw is not None:
                for phase in PHASES:
                    on_phase = phase_load[(circuit.id, phase, t)]
                    if on_phase > max(0.0, circuit.phase_limit_kw - base / 3) + TOLERANCE_KW:
                        found.append(
                            f"{circuit.id} {phase} slot {t}: {on_phase + base / 3:.3f} kW "
                            f"above {circuit.phase_limit_kw} kW"
                        )
    return found
