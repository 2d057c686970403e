"""An independent check of line currents, from first principles.

It does not use :mod:`optimizer.network`: it takes the network's voltage
phasors (V_an = V∠0°, V_bn = V∠-120°, V_cn = V∠120°), computes each charger's
current from its complex power at unity power factor (I = P / conj(V) across
whatever voltage it is wired to: a phase, or two lines, the current flowing out
on one line and back on the other), sums the currents of each line as complex
numbers in amperes, and compares their magnitudes with the breakers' currents.
"""

from __future__ import annotations

import cmath
import math

from optimizer.problem import SiteProblem

LINE = {"L1": 0, "L2": 1, "L3": 2}


def voltages(phase_v: float) -> list[complex]:
    """Phase-to-neutral voltage phasors of lines L1, L2, L3."""
    return [cmath.rect(phase_v, math.radians(a)) for a in (0.0, -120.0, 120.0)]


def line_amperes(
    problem: SiteProblem, power: dict[str, list[float]], t: int, circuit_id: str, phase_v: float
) -> list[float]:
    """The magnitude of the current on each line of ``circuit_id`` in slot ``t``."""
    v = voltages(phase_v)
    current = [0j, 0j, 0j]
    chargers = {c.id: c for c in problem.chargers}
    for vehicle in problem.vehicles:
        charger = chargers[vehicle.charger]
        if circuit_id not in {c.id for c in problem.ancestors(charger.circuit)}:
            continue
        watts = power.get(vehicle.id, [0.0] * problem.slots)[t] * 1000
        wiring = charger.phases
        if wiring == "L123":
            for n in range(3):
                current[n] += (watts / 3) / v[n].conjugate()
        elif wiring in LINE:
            current[LINE[wiring]] += watts / v[LINE[wiring]].conjugate()
        else:
            out, back = LINE["L" + wiring[1]], LINE["L" + wiring[2]]
            flow = watts / (v[out] - v[back]).conjugate()
            current[out] += flow
            current[back] -= flow
    if circuit_id == problem.root.id and problem.base(t) > 0:
        for n in range(3):
            current[n] += (problem.base(t) * 1000 / 3) / v[n].conjugate()
    return [abs(i) for i in current]


def overloads(
    problem: SiteProblem, power: dict[str, list[float]], phase_v: float
) -> list[tuple[str, int, float]]:
    """Every (circuit, slot, share over) where a line carries more than its breaker
    (or, where the base load alone overloads it, more than the base load)."""
    found = []
    for circuit in problem.circuits:
        if circuit.phase_limit_kw is None:
            continue
        breaker_a = circuit.phase_limit_kw * 1000 / phase_v
        for t in range(problem.slots):
            worst = max(line_amperes(problem, power, t, circuit.id, phase_v))
            alone = max(line_amperes(problem, {}, t, circuit.id, phase_v))
            if worst > max(breaker_a, alone) * (1 + 1e-6) + 1e-6:
                found.append((circuit.id, t, worst / breaker_a - 1))
    return found
