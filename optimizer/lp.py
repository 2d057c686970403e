"""The site load schedule as a linear program, solved by HiGHS and checked before use.

Variables: power ``x[v,t]`` (kW) of each vehicle in each slot of its stay,
bounded by its and its charger's maximum; ``unmet[v]`` (kWh) the energy it
does not get; ``peak`` (kW) the site's import peak (only with a demand charge).

Constraints, per slot: every circuit of the capacity tree carries at most its
limit (the site connection also its base load and any import limit), and each
line of a circuit with a phase limit at most that current, held by the cuts of
:func:`optimizer.network.cuts` (a polygon inside the circle of the exact current,
so line-to-line chargers' currents at ±30° never add up past the breaker); vehicles that follow
each other on one charger share its rating. Per vehicle:
delivered + unmet = need. The peak is at least every slot's import and the
billing period's peak so far.

Objective: energy cost at time-of-use prices + prorated demand charge on the
peak + a heavy penalty per kWh not delivered (rising slightly with the share of
a vehicle's need that is missing, so shortfalls are split fairly, and weighted by
the vehicle's priority), a risk premium on energy planned
in the hours a vehicle may already have left (``Vehicle.sure_until``: its
departure is the driver's estimate), and a tiny preference for charging
earlier (ties between equally priced slots go to the earlier one).
Too little capacity never makes the program infeasible: the penalty makes it
deliver as much as it can, and the shortfalls say who falls short by how much.

The program is built once in matrix form (column-wise, with numpy: no Python
object per term) and handed to HiGHS as arrays, with the algorithm chosen by
the program's size: dual simplex for site-sized programs (2.4x faster than the
interior point at 50 vehicles), the interior point with crossover from a few
hundred vehicles on (7 s against 51 s at 5,000). Every plan goes through the
limit checker before it is used; a solve that is not optimal, or a plan that
breaks a limit, gives way to the better greedy baseline, and the schedule says
so (``status`` "fallback", a note). CBC, through PuLP from the same arrays, is
kept as a cross-check (``solver="cbc"``), judged by its solution status. Build
and solve times are reported separately.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pulp

from optimizer import network
from optimizer.baselines import earliest_deadline_first, least_laxity_first
from optimizer.evaluate import evaluate, violations
from optimizer.network import LINES
from optimizer.problem import Schedule, SiteProblem

EARLIER = 1e-6
"""Per kWh and slot index: small enough never to outweigh a price difference."""

INF = float("inf")

SHORTFALL_SHARES = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5), (0.5, 1.0))
"""The shares of a vehicle's need its shortfall is split into..."""
SHORTFALL_STEPS = (1.0, 1.001, 1.002, 1.004)
"""...and what a kWh of each costs, times the penalty: when not every vehicle can be
served, a vehicle's second 10% short costs more than another's first, so shortfalls
are split in proportion to the needs instead of landing on whoever the solver picks.
The steps are small: fairness never costs more than 0.4% of the energy delivered."""


@dataclass
class Program:
    """The LP as arrays: columns with bounds and costs, rows with bounds, the matrix
    column-wise (``start``/``index``/``value``), and where each vehicle's columns are."""

    cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    start: np.ndarray
    index: np.ndarray
    value: np.ndarray
    # Per vehicle: (first column, slot of that column, number of columns).
    columns: dict[str, tuple[int, int, int]]
    # The HiGHS algorithm it is built for: "simplex" or "ipm" (SIMPLEX_UP_TO).
    algorithm: str = "simplex"

    @property
    def size(self) -> tuple[int, int, int]:
        """Columns, rows, non-zeros."""
        return len(self.cost), len(self.row_lower), len(self.value)


ROOM_KWH = 1e-6
"""Room past the need in the dearest shortfall share (see the unmet columns)."""


def build(problem: SiteProblem) -> Program:
    """The program of ``problem`` in matrix form."""
    h, slots = problem.slot_hours, problem.slots
    prices = np.asarray(problem.tariff.price_per_kwh, dtype=float)
    base = np.array([problem.base(t) for t in range(slots)])
    circuits = list(problem.circuits)
    circuit_index = {c.id: i for i, c in enumerate(circuits)}
    limited = [c for c in circuits if c.phase_limit_kw is not None]
    vehicles = problem.vehicles
    tariff = problem.tariff
    with_peak = tariff.demand_charge_per_kw > 0
    premium = problem.risk_premium()

    # A charger with more than one vehicle in the horizon (the next car plugged in
    # before the last one's stop arrived, two cars in a row): they share its rating.
    on_charger: dict[str, int] = {}
    for vehicle in vehicles:
        on_charger[vehicle.charger] = on_charger.get(vehicle.charger, 0) + 1
    shared = [c for c in problem.chargers if on_charger.get(c.id, 0) > 1]
    shared_index = {c.id: i for i, c in enumerate(shared)}

    # Per limited circuit and line: the cuts that hold the line's current (the
    # chargers below it and, at the site connection, the base load, in phase).
    chargers = {c.id: c for c in problem.chargers}
    line_cuts: dict[tuple[str, int], list[tuple[complex, float]]] = {}
    above = {c.id: {a.id for a in problem.ancestors(c.circuit)} for c in problem.chargers}
    for circuit in limited:
        wirings = {c.phases for c in problem.chargers if circuit.id in above[c.id]}
        for n in range(len(LINES)):
            phasors = [network.phasor(w, n) for w in wirings]
            if circuit.parent is None and base.max(initial=0.0) > 0:
                phasors.append(1 + 0j)
            line_cuts[(circuit.id, n)] = network.cuts(phasors)

    # A line whose currents all point one way has one exact cut, on the chargers'
    # powers directly. Any other line gets two free columns per slot, the real and
    # imaginary parts of its current (equality rows tie them to the chargers), and
    # its cuts bear on those two only: each charger then has two entries per line
    # instead of one per cut (a fifth of the non-zeros of a line-to-line depot).
    # (For the simplex; the interior point, past SIMPLEX_UP_TO, is faster on the cuts
    # themselves: 11 s against 14 s at 5,000 line-to-line vehicles.)
    simplex = sum(v.departure - v.arrival for v in vehicles) <= SIMPLEX_UP_TO
    multi = {k: line for k, line in line_cuts.items() if len(line) > 1 and simplex}
    single = {k: line for k, line in line_cuts.items() if line and k not in multi}

    # Rows: energy (one per vehicle), circuit x slot, per limited line its cut x slot
    # (and, for a line with several cuts, its real and imaginary parts x slot),
    # shared charger x slot, peak x slot.
    n_energy = len(vehicles)
    circuit_row0 = n_energy
    cut_row0: dict[tuple[str, int], int] = {}
    part_row0: dict[tuple[str, int], int] = {}
    next_row = circuit_row0 + len(circuits) * slots
    for key, line in line_cuts.items():
        if key in multi:
            part_row0[key] = next_row
            next_row += 2 * slots
        cut_row0[key] = next_row
        next_row += len(line) * slots
    shared_row0 = next_row
    peak_row0 = shared_row0 + len(shared) * slots
    n_rows = peak_row0 + (slots if with_peak else 0)
    row_lower = np.full(n_rows, -INF)
    row_upper = np.full(n_rows, INF)
    for n, vehicle in enumerate(vehicles):
        row_lower[n] = row_upper[n] = vehicle.energy_kwh
    for i, circuit in enumerate(circuits):
        if circuit.parent is None:
            limits = np.array([problem.site_limit(t) for t in range(slots)]) - base
        else:
            limits = np.full(slots, circuit.limit_kw)
        # A base load above the limit leaves nothing for charging (not infeasible).
        row_upper[circuit_row0 + i * slots : circuit_row0 + (i + 1) * slots] = np.maximum(
            limits, 0.0
        )
    for (circuit_id, n), line in line_cuts.items():
        circuit = next(c for c in limited if c.id == circuit_id)
        # The base load (balanced, in phase with each line; an export not counted,
        # optimizer.network) takes its projection off each cut.
        own = np.maximum(base, 0.0) / 3 if circuit.parent is None else np.zeros(slots)
        for j, (direction, bound) in enumerate(line):
            first = cut_row0[(circuit_id, n)] + j * slots
            room = circuit.phase_limit_kw * bound - own * direction.real  # type: ignore[operator]
            row_upper[first : first + slots] = np.maximum(room, 0.0)
        if (circuit_id, n) in multi:
            first = part_row0[(circuit_id, n)]
            row_lower[first : first + 2 * slots] = row_upper[first : first + 2 * slots] = 0.0
    for i, charger in enumerate(shared):
        row_upper[shared_row0 + i * slots : shared_row0 + (i + 1) * slots] = charger.max_kw
    if with_peak:
        row_upper[peak_row0 : peak_row0 + slots] = -base

    chains = {c.id: [circuit_index[a.id] for a in problem.ancestors(c.id)] for c in circuits}
    costs, lowers, uppers, counts, indexes, values = [], [], [], [], [], []
    columns: dict[str, tuple[int, int, int]] = {}
    next_col = 0
    for n, vehicle in enumerate(vehicles):
        charger = chargers[vehicle.charger]
        window = np.arange(vehicle.arrival, vehicle.departure)
        k = len(window)
        columns[vehicle.id] = (next_col, vehicle.arrival, k)
        next_col += k
        if k:
            cost = prices[window] + EARLIER * window
            if vehicle.sure_until is not None and vehicle.sure_until < vehicle.departure:
                # Half the premium in the first uncertain slot, rising to all of it
                # at the departure: within the uncertain hours, earlier is safer.
                into = window - vehicle.sure_until + 1
                share = 0.5 + 0.5 * into / (vehicle.departure - vehicle.sure_until)
                cost = cost + premium * np.where(into > 0, share, 0.0)
            costs.append(h * cost)
            lowers.append(np.zeros(k))
            uppers.append(np.full(k, min(vehicle.max_kw, charger.max_kw)))
            # Each column's entries, row by row: energy, its circuits, their phases, peak.
            rows = [np.full(k, n)]
            coefs = [np.full(k, h)]
            for i in chains[charger.circuit]:
                rows.append(circuit_row0 + i * slots + window)
                coefs.append(np.ones(k))
            for circuit_id in (circuits[i].id for i in chains[charger.circuit]):
                for n in range(len(LINES)):
                    current = network.phasor(charger.phases, n)
                    key = (circuit_id, n)
                    if not current or key not in line_cuts:
                        continue
                    if key in single:
                        for j, (direction, _) in enumerate(single[key]):
                            rows.append(cut_row0[key] + j * slots + window)
                            coefs.append(np.full(k, (current * direction.conjugate()).real))
                        continue
                    rows.append(part_row0[key] + window)
                    coefs.append(np.full(k, current.real))
                    if current.imag:
                        rows.append(part_row0[key] + slots + window)
                        coefs.append(np.full(k, current.imag))
            if charger.id in shared_index:
                rows.append(shared_row0 + shared_index[charger.id] * slots + window)
                coefs.append(np.ones(k))
            if with_peak:
                rows.append(peak_row0 + window)
                coefs.append(np.ones(k))
            counts.append(np.full(k, len(rows)))
            indexes.append(np.stack(rows, axis=1).ravel())
            values.append(np.stack(coefs, axis=1).ravel())
    # Unmet energy: per vehicle one column per share of its need (entries in its
    # energy row), each dearer than the last, times the vehicle's priority.
    n_vehicles = len(vehicles)
    needs = np.array([v.energy_kwh for v in vehicles], dtype=float)
    slotless = np.array([v.departure <= v.arrival for v in vehicles], dtype=bool)
    weights = np.array([v.priority for v in vehicles], dtype=float)
    last = len(SHORTFALL_SHARES) - 1
    for part, ((low, high), dearer) in enumerate(
        zip(SHORTFALL_SHARES, SHORTFALL_STEPS, strict=True)
    ):
        costs.append(problem.unmet_penalty_per_kwh * dearer * weights)
        lowers.append(np.zeros(n_vehicles))
        # A vehicle without a slot: the dearest share gets a hair of room (its energy
        # row caps it at the need). Bounds that sum to exactly a tiny need leave HiGHS
        # nothing within its tolerances, and it calls the LP infeasible.
        uppers.append(needs * (high - low) + np.where(slotless & (part == last), ROOM_KWH, 0.0))
        counts.append(np.ones(n_vehicles, dtype=int))
        indexes.append(np.arange(n_vehicles))
        values.append(np.ones(n_vehicles))
    if with_peak:
        costs.append(np.array([tariff.demand_charge_per_kw * tariff.demand_charge_share]))
        lowers.append(np.array([tariff.peak_so_far_kw]))
        uppers.append(np.array([INF]))
        counts.append(np.array([slots]))
        indexes.append(peak_row0 + np.arange(slots))
        values.append(np.full(slots, -1.0))
    # The real and imaginary parts of each line with several cuts, one pair per slot:
    # -1 in its defining row, and its share of each cut.
    every = np.arange(slots)
    for key, line in multi.items():
        for part in (0, 1):
            rows = [part_row0[key] + part * slots + every]
            coefs = [np.full(slots, -1.0)]
            for j, (direction, _) in enumerate(line):
                rows.append(cut_row0[key] + j * slots + every)
                coefs.append(np.full(slots, direction.imag if part else direction.real))
            # Bounded, which the interior point needs to stay fast: a line within its
            # cuts carries at most its limit, and every current is within 30 degrees
            # of its line's voltage, so the real part is not negative.
            limit = float(next(c for c in limited if c.id == key[0]).phase_limit_kw)  # type: ignore[arg-type]
            costs.append(np.zeros(slots))
            lowers.append(np.full(slots, -limit if part else 0.0))
            uppers.append(np.full(slots, limit))
            counts.append(np.full(slots, len(rows)))
            indexes.append(np.stack(rows, axis=1).ravel())
            values.append(np.stack(coefs, axis=1).ravel())
    count = np.concatenate(counts) if counts else np.zeros(0, dtype=int)
    return Program(
        cost=np.concatenate(costs),
        col_lower=np.concatenate(lowers),
        col_upper=np.concatenate(uppers),
        row_lower=row_lower,
        row_upper=row_upper,
        start=np.concatenate([[0], np.cumsum(count)]).astype(np.int32),
        index=np.concatenate(indexes).astype(np.int32),
        value=np.concatenate(values).astype(float),
        columns=columns,
        algorithm="simplex" if simplex else "ipm",
    )


def solve(
    problem: SiteProblem, *, solver: str = "highs", time_limit_s: float | None = None
) -> Schedule:
    """The cheapest schedule that respects every limit, delivering as much as possible.

    The solver's answer is used only when it says optimal *and* the limit checker
    (:func:`optimizer.evaluate.violations`) finds nothing wrong with the plan; otherwise
    (a time limit, a numerical failure, a plan that breaks a limit) the better of
    the limit-respecting baselines is returned, with ``status`` "fallback" and a note
    saying why. ``solver`` "cbc" solves the same program with CBC through PuLP (a
    cross-check; HiGHS is the solver).
    """
    began = time.perf_counter()
    program = build(problem)
    built = time.perf_counter()
    if solver == "highs":
        status, solution = _highs(program, time_limit_s)
    elif solver == "cbc":
        status, solution = _cbc(program, time_limit_s)
    else:
        raise ValueError(f"unknown solver {solver!r} (highs or cbc)")
    solved = time.perf_counter()
    if solution is None:
        schedule = fallback(problem, f"{solver} ended {status}")
    else:
        plan: dict[str, list[float]] = {}
        for vehicle in problem.vehicles:
            first, slot, k = program.columns[vehicle.id]
            series = np.zeros(problem.slots)
            series[slot : slot + k] = np.maximum(solution[first : first + k], 0.0)
            plan[vehicle.id] = series.tolist()
        broken = violations(problem, plan)
        if broken:
            schedule = fallback(
                problem,
                f"{solver}'s plan broke {len(broken)} limits (e.g. {broken[0]})",
            )
        else:
            schedule = evaluate(problem, plan, "lp")
            schedule.status = status
    schedule.build_s, schedule.solve_s = built - began, solved - built
    if schedule.shortfall_kwh:
        schedule.notes.append(
            f"{len(schedule.shortfall_kwh)} vehicles fall short by "
            f"{sum(schedule.shortfall_kwh.values()):.1f} kWh in total (too little capacity)"
        )
    return schedule


def fallback(problem: SiteProblem, reason: str) -> Schedule:
    """The better of the limit-respecting baselines (more energy, then lower cost)."""
    candidates = [earliest_deadline_first(problem), least_laxity_first(problem)]
    best = min(candidates, key=lambda s: (-round(sum(s.delivered_kwh.values()), 6), s.total_cost))
    best.status = "fallback"
    best.notes = [f"{reason}: planned by {best.method} instead"]
    return best


SIMPLEX_UP_TO = 40_000
"""Power columns (vehicle-slots) up to which HiGHS's dual simplex runs; above, the
interior point with crossover. Simplex / interior point on the benchmark depot
(2026-12-01, this 2-core machine): 300 vehicles (15,537 columns) 0.15 / 0.18 s,
500: 0.30 / 0.32, 800 (41,567): 0.60 / 0.39, 1,200: 1.12 / 0.68; behind a
transformer with its chargers rotated over AB, BC, CA: 0.21 / 0.44, 0.45 / 0.77,
1.04 / 1.43, 1.96 / 2.16. At 2,000 flat: 12.1 / 2.7 s, 5,000: 51 / 7.1 s."""


def algorithm(program: Program) -> str:
    """The HiGHS algorithm for a program of this shape."""
    return program.algorithm


_banner_lock = threading.Lock()
_banner_shown = False


def _new_highs(highspy: Any) -> Any:
    """A HiGHS instance; the first of a process is made with stdout closed for a moment.

    HiGHS prints its copyright banner on stdout when the first instance is built,
    before any option can silence it, into the service's logs; later instances are
    quiet (``output_flag`` off).
    """
    global _banner_shown
    with _banner_lock:
        if _banner_shown:
            return highspy.Highs()
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "wb") as devnull:
                os.dup2(devnull.fileno(), 1)
                try:
                    solver = highspy.Highs()
                finally:
                    os.dup2(saved, 1)
        finally:
            os.close(saved)
        _banner_shown = True
        return solver


def _highs(program: Program, time_limit_s: float | None) -> tuple[str, np.ndarray | None]:
    try:
        import highspy
    except ImportError:  # pragma: no cover - highspy is a dependency; CBC still works
        return "unavailable", None
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(program.cost), len(program.row_lower)
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = program.cost, program.col_lower, program.col_upper
    lp.row_lower_, lp.row_upper_ = program.row_lower, program.row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = program.start
    lp.a_matrix_.index_ = program.index
    lp.a_matrix_.value_ = program.value
    solver = _new_highs(highspy)
    solver.setOptionValue("output_flag", False)
    solver.setOptionValue("solver", algorithm(program))
    if time_limit_s is not None:
        solver.setOptionValue("time_limit", float(time_limit_s))
    solver.passModel(lp)
    solver.run()
    status = solver.modelStatusToString(solver.getModelStatus())
    if solver.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return status.lower(), None
    return "optimal", np.asarray(solver.getSolution().col_value)


def _cbc(program: Program, time_limit_s: float | None) -> tuple[str, np.ndarray | None]:
    """The same program through PuLP and CBC (row-wise, from the column-wise arrays)."""
    model = pulp.LpProblem("site_load_schedule", pulp.LpMinimize)
    columns = [
        model.add_variable(f"c{j}", float(lo), None if hi == INF else float(hi))
        for j, (lo, hi) in enumerate(zip(program.col_lower, program.col_upper, strict=True))
    ]
    rows: list[list[tuple[pulp.LpVariable, float]]] = [[] for _ in program.row_lower]
    for j, column in enumerate(columns):
        for e in range(program.start[j], program.start[j + 1]):
            rows[program.index[e]].append((column, float(program.value[e])))
    for terms, lo, hi in zip(rows, program.row_lower, program.row_upper, strict=True):
        if not terms:
            continue
        expression = pulp.LpAffineExpression(terms)
        if lo == hi:
            model.addConstraint(pulp.LpConstraint(expression, pulp.LpConstraintEQ, rhs=float(lo)))
        else:
            if hi != INF:
                model.addConstraint(
                    pulp.LpConstraint(expression, pulp.LpConstraintLE, rhs=float(hi))
                )
            if lo != -INF:
                model.addConstraint(
                    pulp.LpConstraint(expression, pulp.LpConstraintGE, rhs=float(lo))
                )
    model.setObjective(
        pulp.LpAffineExpression(zip(columns, (float(c) for c in program.cost), strict=True))
    )
    model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s))
    # CBC reports "Optimal" for a solve its time limit stopped: only the solution
    # status says whether the solution is proven optimal.
    if model.sol_status != pulp.LpSolutionOptimal:
        status = str(pulp.LpSolution[model.sol_status]).lower()
        return status, None
    return "optimal", np.array([c.varValue or 0.0 for c in columns])
