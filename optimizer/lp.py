"""The site load schedule as a linear program (PuLP; HiGHS by default, CBC as fallback).

Variables: power ``x[v,t]`` (kW) of each vehicle in each slot of its stay,
bounded by its and its charger's maximum; ``unmet[v]`` (kWh) the energy it
does not get; ``peak`` (kW) the site's import peak.

Constraints, per slot: every circuit of the capacity tree carries at most its
limit (the site connection also its base load and any import limit), and each
phase of a circuit with a phase limit at most that (a single-phase charger
loads its line fully, a three-phase one a third on each). Per vehicle:
delivered + unmet = need. The peak is at least every slot's import and the
billing period's peak so far.

Objective: energy cost at time-of-use prices + prorated demand charge on the
peak + a heavy penalty per kWh not delivered, and a tiny preference for
charging earlier (ties between equally priced slots go to the earlier one).
Too little capacity never makes the program infeasible: the penalty makes it
deliver as much as it can, and the shortfalls say who falls short by how much.

Built term by term from lists of (variable, coefficient) pairs (PuLP's fast
``LpAffineExpression`` path, no operator overloading per term); build and solve
times are reported separately.
"""

from __future__ import annotations

import time
from collections import defaultdict

import pulp

from optimizer.evaluate import PHASES, evaluate, phase_share
from optimizer.problem import Schedule, SiteProblem

EARLIER = 1e-6
"""Per kWh and slot index: small enough never to outweigh a price difference."""

Terms = list[tuple[pulp.LpVariable, float]]


def _solver(name: str, time_limit_s: float | None) -> pulp.LpSolver:
    if name == "highs":
        return pulp.HiGHS(msg=False, timeLimit=time_limit_s)
    if name == "cbc":
        return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s)
    raise ValueError(f"unknown solver {name!r} (highs or cbc)")


def build(
    problem: SiteProblem,
) -> tuple[pulp.LpProblem, dict[str, dict[int, pulp.LpVariable]], dict[str, pulp.LpVariable]]:
    """The linear program, the power variables by vehicle and slot, the unmet variables."""
    lp = pulp.LpProblem("site_load_schedule", pulp.LpMinimize)
    h = problem.slot_hours
    prices = problem.tariff.price_per_kwh
    chargers = {c.id: c for c in problem.chargers}
    chains = {c.id: problem.ancestors(c.id) for c in problem.circuits}
    phase_limited = {c.id for c in problem.circuits if c.phase_limit_kw is not None}

    objective: Terms = []
    circuit_terms: dict[tuple[str, int], Terms] = defaultdict(list)
    phase_terms: dict[tuple[str, str, int], Terms] = defaultdict(list)
    site_terms: dict[int, Terms] = defaultdict(list)
    power: dict[str, dict[int, pulp.LpVariable]] = {}
    unmet: dict[str, pulp.LpVariable] = {}

    for n, vehicle in enumerate(problem.vehicles):
        charger = chargers[vehicle.charger]
        cap = min(vehicle.max_kw, charger.max_kw)
        chain = chains[charger.circuit]
        shares = {p: phase_share(charger.phases, p) for p in PHASES}
        mine: dict[int, pulp.LpVariable] = {}
        energy: Terms = []
        for t in range(vehicle.arrival, vehicle.departure):
            x = lp.add_variable(f"x_{n}_{t}", 0, cap)
            mine[t] = x
            energy.append((x, h))
            objective.append((x, h * (prices[t] + EARLIER * t)))
            site_terms[t].append((x, 1.0))
            for circuit in chain:
                circuit_terms[(circuit.id, t)].append((x, 1.0))
                if circuit.id in phase_limited:
                    for phase, share in shares.items():
                        if share:
                            phase_terms[(circuit.id, phase, t)].append((x, share))
        short = lp.add_variable(f"unmet_{n}", 0, vehicle.energy_kwh)
        unmet[vehicle.id] = short
        power[vehicle.id] = mine
        objective.append((short, problem.unmet_penalty_per_kwh))
        energy.append((short, 1.0))
        lp.addConstraint(
            pulp.LpConstraint(
                pulp.LpAffineExpression(energy), pulp.LpConstraintEQ, rhs=vehicle.energy_kwh
            )
        )

    for circuit in problem.circuits:
        for t in range(problem.slots):
            terms = circuit_terms.get((circuit.id, t))
            if not terms:
                continue
            limit, base = circuit.limit_kw, 0.0
            if circuit.parent is None:
                limit, base = problem.site_limit(t), problem.base(t)
            # A base load above the limit leaves nothing for charging (not infeasible).
            lp.addConstraint(
                pulp.LpConstraint(
                    pulp.LpAffineExpression(terms), pulp.LpConstraintLE, rhs=max(0.0, limit - base)
                )
            )
            if circuit.phase_limit_kw is not None:
                for phase in PHASES:
                    on_phase = phase_terms.get((circuit.id, phase, t))
                    if on_phase:
                        room = max(0.0, circuit.phase_limit_kw - base / 3)
                        lp.addConstraint(
                            pulp.LpConstraint(
                                pulp.LpAffineExpression(on_phase), pulp.LpConstraintLE, rhs=room
                            )
                        )

    tariff = problem.tariff
    if tariff.demand_charge_per_kw > 0:
        peak = lp.add_variable("peak", tariff.peak_so_far_kw)
        objective.append((peak, tariff.demand_charge_per_kw * tariff.demand_charge_share))
        for t, terms in site_terms.items():
            lp.addConstraint(
                pulp.LpConstraint(
                    pulp.LpAffineExpression([*terms, (peak, -1.0)]),
                    pulp.LpConstraintLE,
                    rhs=-problem.base(t),
                )
            )
    lp.setObjective(pulp.LpAffineExpression(objective))
    return lp, power, unmet


def solve(
    problem: SiteProblem, *, solver: str = "highs", time_limit_s: float | None = None
) -> Schedule:
    """The cheapest schedule that respects every limit, delivering as much as possible.

    HiGHS solves by default; CBC (bundled with PuLP) takes over if HiGHS is
    missing or fails.
    """
    began = time.perf_counter()
    lp, power, _unmet = build(problem)
    built = time.perf_counter()
    notes: list[str] = []
    status = _run(lp, solver, time_limit_s)
    if status != "Optimal" and solver == "highs":
        notes.append(f"HiGHS ended {status}; solved again with CBC")
        status = _run(lp, "cbc", time_limit_s)
    solved = time.perf_counter()
    plan = {
        v.id: [
            max(0.0, float(power[v.id][t].varValue or 0.0)) if t in power[v.id] else 0.0
            for t in range(problem.slots)
        ]
        for v in problem.vehicles
    }
    schedule = evaluate(problem, plan, "lp")
    schedule.build_s, schedule.solve_s = built - began, solved - built
    schedule.status = status.lower()
    if schedule.shortfall_kwh:
        notes.append(
            f"{len(schedule.shortfall_kwh)} vehicles fall short by "
            f"{sum(schedule.shortfall_kwh.values()):.1f} kWh in total (too little capacity)"
        )
    schedule.notes = notes
    return schedule


def _run(lp: pulp.LpProblem, solver: str, time_limit_s: float | None) -> str:
    try:
        lp.solve(_solver(solver, time_limit_s))
    except pulp.PulpSolverError as exc:
        return f"Error: {exc}"
    return str(pulp.LpStatus[lp.status])
