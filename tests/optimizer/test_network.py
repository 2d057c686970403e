"""The exact electrical model: line currents of line-to-line, single- and three-phase
chargers as phasors, cuts that never overshoot, and plans that no breaker sees over
its current (checked from the network's voltages, tests/optimizer/phasors.py)."""

from __future__ import annotations

import cmath
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer import network
from optimizer.baselines import earliest_deadline_first, least_laxity_first
from optimizer.evaluate import violations
from optimizer.lp import build, solve
from optimizer.problem import Charger, Circuit, PhaseWiring, SiteProblem, Tariff, Vehicle
from tests.optimizer import phasors

WIRINGS: list[PhaseWiring] = ["L1", "L2", "L3", "L123", "L12", "L23", "L31"]
V_LN = 120.0  # 208Y/120


def one_slot(chargers: list[Charger], phase_limit_kw: float, *, base: float = 0.0) -> SiteProblem:
    """A site whose transformer limits each line, every car wanting more than it can get."""
    return SiteProblem(
        slot_hours=1.0,
        slots=1,
        circuits=[Circuit("site", 1000.0, None, phase_limit_kw)],
        chargers=chargers,
        vehicles=[Vehicle(f"v-{c.id}", c.id, 0, 1, 100.0, c.max_kw) for c in chargers],
        tariff=Tariff([0.2]),
        base_load_kw=[base],
    )


@pytest.mark.parametrize("wiring", WIRINGS)
def test_each_wirings_phasors_are_the_currents_its_voltage_makes(wiring: PhaseWiring) -> None:
    problem = one_slot([Charger("C", "site", 10.0, wiring)], 100.0)
    amperes = phasors.line_amperes(problem, {"v-C": [1.0]}, 0, "site", V_LN)
    for n in range(3):
        # kW per phase is amperes times the phase voltage: 1 kW between two lines of
        # a 208 V network is 4.81 A on each, 0.577 kW per phase.
        assert abs(network.phasor(wiring, n)) == pytest.approx(amperes[n] * V_LN / 1000)


def test_a_rotated_pod_loads_each_line_with_one_chargers_power_and_two_do_not_add_up() -> None:
    pod = [Charger(w, "site", 10.0, w) for w in ("L12", "L23", "L31")]
    problem = one_slot(pod, 100.0)
    power = {f"v-{w}": [6.0] for w in ("L12", "L23", "L31")}
    assert phasors.line_amperes(problem, power, 0, "site", V_LN) == pytest.approx([6000 / V_LN] * 3)
    pair = one_slot(pod[:2], 100.0)
    a, b, c = phasors.line_amperes(pair, {"v-L12": [6.0], "v-L23": [6.0]}, 0, "site", V_LN)
    # B carries both at ±30°: 2 * 6/√3 * cos 30° = 6 kW, not their 6.93 kW sum.
    assert b * V_LN / 1000 == pytest.approx(6.0)
    assert a * V_LN / 1000 == pytest.approx(6 / math.sqrt(3)) == c * V_LN / 1000


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(WIRINGS), min_size=1, max_size=5),
    st.lists(st.floats(0.0, 20.0), min_size=5, max_size=5),
    st.integers(0, 2),
)
def test_the_cuts_never_let_a_current_past_its_limit_and_give_up_little(
    wirings: list[PhaseWiring], powers: list[float], line: int
) -> None:
    currents = [network.phasor(w, line) for w in wirings]
    cuts = network.cuts(currents)
    total = sum(p * c for p, c in zip(powers, currents, strict=False))
    if not cuts:
        assert total == 0
        return
    # Scaled onto the cuts' boundary, the sum is inside the unit circle...
    projections = [(total * d.conjugate()).real / bound for d, bound in cuts]
    scale = max(projections)
    if scale > 0:
        assert abs(total / scale) <= 1 + 1e-9
        # ...and no further in than the cut's arc allows.
        assert abs(total / scale) >= math.cos(math.radians(network.CUT_ARC_DEG / 2)) - 1e-9


def test_the_cuts_are_exact_when_every_current_points_one_way() -> None:
    assert network.cuts([1 + 0j, 1 / 3 + 0j]) == [(1 + 0j, 1.0)]
    with pytest.raises(ValueError, match="180"):
        network.cuts([1 + 0j, -1 + 0j])


@given(st.complex_numbers(max_magnitude=2.0), st.sampled_from(WIRINGS), st.integers(0, 2))
def test_most_is_what_reaches_the_limit_exactly(load: complex, wiring: PhaseWiring, n: int) -> None:
    add = network.phasor(wiring, n)
    s = network.most(load, add, 1.0)
    if add == 0:
        assert s == math.inf  # nothing on this line: it does not limit the charger
    elif abs(load) > 1.0:
        assert s == 0.0
    else:
        assert abs(load + s * add) == pytest.approx(1.0)


def test_the_lp_fills_a_rotated_pod_and_a_pair_to_the_exact_limit() -> None:
    """Three chargers rotated over AB, BC, CA behind 5 kW per phase carry 5 kW each
    (15 kW); AB and CA share line A at ±30°, so together 2 x 5 kW."""
    pod = [Charger(w, "site", 10.0, w) for w in ("L12", "L23", "L31")]
    schedule = solve(one_slot(pod, 5.0))
    assert schedule.status == "optimal"
    assert sum(schedule.delivered_kwh.values()) == pytest.approx(15.0, rel=1e-6)
    pair = solve(one_slot([pod[0], pod[2]], 5.0))
    assert sum(pair.delivered_kwh.values()) == pytest.approx(10.0, rel=1e-6)


def test_line_to_line_and_phase_chargers_share_a_line_with_the_base_load() -> None:
    chargers = [
        Charger("N1", "site", 7.0, "L1"),
        Charger("AB", "site", 7.0, "L12"),
        Charger("T", "site", 22.0, "L123"),
    ]
    problem = one_slot(chargers, 8.0, base=6.0)
    schedule = solve(problem)
    assert phasors.overloads(problem, schedule.power_kw, V_LN) == []
    amperes = phasors.line_amperes(problem, schedule.power_kw, 0, "site", V_LN)
    # Line A binds: the plan uses it to within the cut's arc of its limit.
    assert max(amperes) * V_LN / 1000 >= 8.0 * math.cos(math.radians(5)) - 1e-6


def test_half_a_phase_per_line_overloads_a_line_and_the_checker_catches_it() -> None:
    """The L1/L2/L3 model with a line-to-line charger as half its power on each of its
    lines: the plan it makes puts 15% more current on a line than the breaker allows,
    and the limit checker (the same physics as the independent one) says so."""
    pod = [Charger("AB", "site", 20.0, "L12"), Charger("BC", "site", 20.0, "L23")]
    exact = one_slot(pod, 10.0)
    # Half of 20 kW on each of A and B is 10 kW per phase: within the naive model.
    plan = {"v-AB": [20.0], "v-BC": [0.0]}
    over = phasors.overloads(exact, plan, V_LN)
    assert over and over[0][2] == pytest.approx(2 / math.sqrt(3) - 1, rel=1e-6)  # +15.5%
    assert any("L1" in v for v in violations(exact, plan))
    assert phasors.overloads(exact, solve(exact).power_kw, V_LN) == []


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(WIRINGS), st.floats(1.0, 20.0), st.floats(1.0, 60.0)),
        min_size=1,
        max_size=8,
    ),
    st.floats(2.0, 30.0),
    st.floats(0.0, 20.0),
)
def test_no_planner_ever_overloads_a_line_and_the_checkers_agree(
    cars: list[tuple[PhaseWiring, float, float]], limit: float, base: float
) -> None:
    """Random mixes of wirings behind a transformer and a pod panel: the LP, both
    baselines: none over any line (independently computed), and the limit checker
    finds a plan over exactly when the independent check does."""
    circuits = [Circuit("site", 1000.0, None, limit), Circuit("pod", 1000.0, "site", limit / 2)]
    chargers = [
        Charger(f"C{i}", "pod" if i % 2 else "site", kw, wiring)
        for i, (wiring, kw, _) in enumerate(cars)
    ]
    vehicles = [Vehicle(f"v{i}", f"C{i}", 0, 4, need, 22.0) for i, (_, _, need) in enumerate(cars)]
    problem = SiteProblem(
        0.25, 4, circuits, chargers, vehicles, Tariff([0.3, 0.1, 0.2, 0.1]), [base] * 4
    )
    for schedule in (solve(problem), earliest_deadline_first(problem), least_laxity_first(problem)):
        assert phasors.overloads(problem, schedule.power_kw, V_LN) == [], schedule.method
        assert violations(problem, schedule.power_kw) == []
    # Pushed 2% past its limits, a plan is caught by both checkers or by neither.
    pushed = {k: [kw * 1.02 for kw in s] for k, s in solve(problem).power_kw.items()}
    independent = {(c, t) for c, t, _ in phasors.overloads(problem, pushed, V_LN)}
    ours = {
        (v.split()[0], int(v.split("slot ")[1].split(":")[0]))
        for v in violations(problem, pushed)
        if " L" in v and "per phase" in v
    }
    assert ours == independent


def test_the_program_has_a_cut_per_arc_only_where_angles_differ() -> None:
    three_phase = one_slot([Charger("T", "site", 22.0, "L123")], 10.0)
    line_to_line = one_slot(
        [Charger("AB", "site", 7.0, "L12"), Charger("N", "site", 7.0, "L1")], 10.0
    )
    # Rows: energy per vehicle, the site's total, then one cut per line (all at 0°)...
    assert len(build(three_phase).row_lower) == 1 + 1 + 3
    # ...against 0° and +30° on line A (3 cuts over its 30°, on the real and imaginary
    # parts of its current, two rows more), -30° alone on B (one cut), nothing on C.
    assert len(build(line_to_line).row_lower) == 2 + 1 + (2 + 3) + 1
    assert cmath.phase(network.phasor("L12", 0)) == pytest.approx(math.radians(30))
