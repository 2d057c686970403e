"""The site load LP on cases whose optimum is known by hand, and on random instances."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.baselines import earliest_deadline_first, least_laxity_first, uncontrolled
from optimizer.evaluate import violations
from optimizer.lp import solve
from optimizer.problem import (
    Charger,
    Circuit,
    PhaseWiring,
    Schedule,
    SiteProblem,
    Tariff,
    Vehicle,
)


def site(
    vehicles: list[Vehicle],
    prices: list[float],
    *,
    limit: float = 100.0,
    chargers: list[Charger] | None = None,
    circuits: list[Circuit] | None = None,
    **extra: object,
) -> SiteProblem:
    """A one-hour-slot site; by default one 22 kW charger per vehicle on the root."""
    return SiteProblem(
        slot_hours=1.0,
        slots=len(prices),
        circuits=circuits or [Circuit("site", limit)],
        chargers=chargers or [Charger(v.charger, "site", 22.0) for v in vehicles],
        vehicles=vehicles,
        tariff=extra.pop("tariff", Tariff(price_per_kwh=prices)),  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


def ev(
    name: str, need: float, *, arrival: int = 0, departure: int = 4, max_kw: float = 1.0
) -> Vehicle:
    """A vehicle on its own charger ``C-<name>``."""
    return Vehicle(name, f"C-{name}", arrival, departure, need, max_kw)


def plan(schedule: Schedule, vehicle: str) -> list[float]:
    """Rounded power of one vehicle."""
    return [round(kw, 6) for kw in schedule.power_kw[vehicle]]


def test_charges_in_the_cheapest_slots() -> None:
    """2 kWh at 1 kW over prices 3,1,2,1: the two slots at 1."""
    schedule = solve(site([ev("a", 2)], [3, 1, 2, 1]))
    assert plan(schedule, "a") == [0, 1, 0, 1]
    assert schedule.energy_cost == pytest.approx(2.0)


def test_ties_go_to_the_earlier_slot() -> None:
    """Equal prices: the whole need as early as the power allows."""
    schedule = solve(site([ev("a", 2, max_kw=2)], [1, 1, 1, 1]))
    assert plan(schedule, "a") == [2, 0, 0, 0]


def test_site_limit_is_shared_and_exactly_enough() -> None:
    """Two vehicles, 1 kW site: 4 kWh fits exactly in 4 slots, and every slot is full."""
    problem = site([ev("a", 2), ev("b", 2)], [1, 1, 1, 1], limit=1.0)
    schedule = solve(problem)
    assert schedule.shortfall_kwh == {}
    assert violations(problem, schedule.power_kw) == []
    load = [a + b for a, b in zip(plan(schedule, "a"), plan(schedule, "b"), strict=True)]
    assert load == [1, 1, 1, 1]


def test_too_little_capacity_reports_who_falls_short() -> None:
    """6 kWh needed, 4 kWh possible: never infeasible, the 2 kWh shortfall is named."""
    problem = site([ev("a", 3), ev("b", 3)], [1, 1, 1, 1], limit=1.0)
    schedule = solve(problem)
    assert schedule.status == "optimal"
    assert sum(schedule.shortfall_kwh.values()) == pytest.approx(2.0)
    assert set(schedule.shortfall_kwh) <= {"a", "b"}
    assert violations(problem, schedule.power_kw) == []
    assert "fall short" in schedule.notes[0]


def test_demand_charge_flattens_the_peak() -> None:
    """Prices 1 then 2: without a demand charge all in slot 0 (peak 2 kW); with 10/kW
    the load is spread (peak 1 kW) although energy costs more."""
    vehicles = [ev("a", 2, departure=2, max_kw=2)]
    cheap = solve(site(vehicles, [1, 2]))
    assert plan(cheap, "a") == [2, 0] and cheap.peak_kw == pytest.approx(2)
    flat = solve(site(vehicles, [1, 2], tariff=Tariff([1, 2], demand_charge_per_kw=10)))
    assert plan(flat, "a") == [1, 1] and flat.peak_kw == pytest.approx(1)
    assert flat.total_cost == pytest.approx(1 + 2 + 10)


def test_peak_so_far_is_free_to_reach() -> None:
    """A billing period that already peaked at 2 kW: charging up to it costs no demand."""
    tariff = Tariff([1, 2], demand_charge_per_kw=10, peak_so_far_kw=2)
    schedule = solve(site([ev("a", 2, departure=2, max_kw=2)], [1, 2], tariff=tariff))
    assert plan(schedule, "a") == [2, 0]


def test_import_limit_and_base_load() -> None:
    """A demand-response cap of 0 in slots 0-1 and base load 0.5 kW under a 1 kW site."""
    problem = site(
        [ev("a", 1)],
        [1, 1, 1, 1],
        limit=1.0,
        base_load_kw=[0.5] * 4,
        import_limit_kw=[0.0, 0.0, None, None],
    )
    schedule = solve(problem)
    assert plan(schedule, "a") == [0, 0, 0.5, 0.5]
    assert violations(problem, schedule.power_kw) == []


def test_circuits_and_phases() -> None:
    """Two single-phase 7.4 kW chargers on L1 and a three-phase 11 kW charger under a
    feeder limited to 5 kW per phase: L1 carries at most 5 kW in total."""
    circuits = [Circuit("site", 100), Circuit("feeder", 20, parent="site", phase_limit_kw=5)]
    chargers = [
        Charger("C-a", "feeder", 7.4, "L1"),
        Charger("C-b", "feeder", 7.4, "L1"),
        Charger("C-c", "feeder", 11, "L123"),
    ]
    vehicles = [ev("a", 20, max_kw=7.4), ev("b", 20, max_kw=7.4), ev("c", 40, max_kw=11)]
    problem = site(vehicles, [1, 1, 1, 1], chargers=chargers, circuits=circuits)
    schedule = solve(problem)
    assert violations(problem, schedule.power_kw) == []
    for t in range(4):
        on_l1 = (
            schedule.power_kw["a"][t] + schedule.power_kw["b"][t] + schedule.power_kw["c"][t] / 3
        )
        assert on_l1 <= 5 + 1e-6


def test_cbc_finds_the_same_optimum() -> None:
    """The cross-check solver agrees with HiGHS."""
    problem = site([ev("a", 2), ev("b", 3)], [3, 1, 2, 1], limit=1.5)
    assert solve(problem, solver="cbc").total_cost == pytest.approx(solve(problem).total_cost)


def test_bad_problems_are_refused() -> None:
    """A vehicle on an unknown charger, a stay outside the horizon, two roots."""
    with pytest.raises(ValueError, match="unknown charger"):
        site([ev("a", 1)], [1], chargers=[Charger("other", "site", 1)])
    with pytest.raises(ValueError, match="outside the horizon"):
        site([ev("a", 1, departure=9)], [1, 1])
    with pytest.raises(ValueError, match="exactly one root"):
        site([ev("a", 1)], [1, 1, 1, 1], circuits=[Circuit("site", 1), Circuit("x", 1)])


@st.composite
def instances(draw: st.DrawFn) -> SiteProblem:
    """Small random sites: a feeder tree, mixed phase wiring, random stays and needs."""
    slots = draw(st.integers(2, 8))
    feeders = draw(st.integers(1, 3))
    circuits = [Circuit("site", draw(st.floats(1, 60)))]
    circuits += [
        Circuit(f"f{i}", draw(st.floats(1, 40)), "site", draw(st.none() | st.floats(1, 15)))
        for i in range(feeders)
    ]
    count = draw(st.integers(1, 6))
    chargers, vehicles = [], []
    for i in range(count):
        wiring: PhaseWiring = draw(st.sampled_from(["L1", "L2", "L3", "L123"]))
        chargers.append(Charger(f"C{i}", f"f{draw(st.integers(0, feeders - 1))}", 11.0, wiring))
    for i in range(count + draw(st.integers(0, 2))):
        # Some chargers have two vehicles in the horizon (one after the other, or both
        # at once when a departure was not seen): they share its 11 kW.
        charger = f"C{draw(st.integers(0, count - 1))}" if i >= count else f"C{i}"
        arrival = draw(st.integers(0, slots - 1))
        departure = draw(st.integers(arrival, slots))
        vehicles.append(
            Vehicle(
                f"v{i}", charger, arrival, departure, draw(st.floats(0, 60)), draw(st.floats(1, 22))
            )
        )
    prices = draw(st.lists(st.floats(0.01, 1.0), min_size=slots, max_size=slots))
    demand = draw(st.sampled_from([0.0, 5.0, 15.51]))
    return SiteProblem(
        slot_hours=0.25,
        slots=slots,
        circuits=circuits,
        chargers=chargers,
        vehicles=vehicles,
        tariff=Tariff(prices, demand_charge_per_kw=demand),
    )


def objective(problem: SiteProblem, schedule: Schedule) -> float:
    """What the LP minimises, up to the tie-break term."""
    unmet = sum(schedule.shortfall_kwh.values())
    return schedule.total_cost + problem.unmet_penalty_per_kwh * unmet


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_random_sites_respect_limits_and_beat_the_baselines(problem: SiteProblem) -> None:
    """Any instance: the LP breaks no limit, delivers at least what the limit-respecting
    baselines deliver, and costs no more than they do for it."""
    schedule = solve(problem)
    assert schedule.status == "optimal", schedule.notes
    assert violations(problem, schedule.power_kw) == []
    for baseline in (earliest_deadline_first, least_laxity_first):
        other = baseline(problem)
        assert violations(problem, other.power_kw) == []
        assert sum(schedule.delivered_kwh.values()) >= sum(other.delivered_kwh.values()) - 1e-3
        assert objective(problem, schedule) <= objective(problem, other) + 1e-3
    free = uncontrolled(problem)
    assert sum(free.delivered_kwh.values()) >= sum(schedule.delivered_kwh.values()) - 1e-3


def test_highs_prints_no_banner_into_the_service_logs() -> None:
    """HiGHS writes its copyright banner on stdout when a process builds its first
    solver; run in a fresh interpreter, a solve prints nothing."""
    import subprocess
    import sys

    code = (
        "from tests.benchmarks.bench_optimizer import depot\n"
        "from optimizer.lp import solve\n"
        'assert not any("CBC" in n for n in solve(depot(3)).notes)\n'
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "HiGHS" not in done.stdout + done.stderr, done.stdout


def test_vehicles_on_one_charger_share_its_rating() -> None:
    """The next car plugged in before the last one's stop reached the site: both are
    in the plan on one 7 kW charger, and together they get at most 7 kW."""
    shared = [Charger("C", "site", 7.0)]
    first = Vehicle("first", "C", 0, 4, 20.0, 7.0)
    second = Vehicle("second", "C", 0, 4, 20.0, 7.0)
    problem = site([first, second], [1, 1, 1, 1], chargers=shared)
    schedule = solve(problem)
    assert schedule.status == "optimal"
    for t in range(4):
        assert schedule.power_kw["first"][t] + schedule.power_kw["second"][t] <= 7.0 + 1e-6
    assert sum(schedule.delivered_kwh.values()) == pytest.approx(28.0)  # 7 kW x 4 h
    for baseline in (earliest_deadline_first, least_laxity_first):
        assert violations(problem, baseline(problem).power_kw) == []
    # The checker sees what the LP must avoid.
    both = {"first": [7.0] * 4, "second": [7.0] * 4}
    assert any("charger C slot 0" in v for v in violations(problem, both))


def test_a_time_limited_solve_falls_back_to_a_plan_that_respects_every_limit() -> None:
    """A solve stopped by its time limit is never taken for optimal: the better greedy
    baseline plans instead, and the schedule says so."""
    problem = depot_problem(40)
    for solver in ("highs", "cbc"):
        schedule = solve(problem, solver=solver, time_limit_s=1e-6)
        assert schedule.status == "fallback", (solver, schedule.status)
        assert any("planned by" in note for note in schedule.notes), schedule.notes
        assert violations(problem, schedule.power_kw) == []
        assert sum(schedule.delivered_kwh.values()) > 0
    assert solve(problem).status == "optimal"


def test_a_plan_that_breaks_a_limit_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the solver returns is checked: a solution over the site limit (as a
    numerically troubled solve can give) is replaced by a baseline's."""
    import numpy as np

    import optimizer.lp as lp

    problem = site([ev("a", 4), ev("b", 4)], [1, 1, 1, 1], limit=1.0)

    def over_the_limit(program: lp.Program, time_limit_s: float | None) -> tuple[str, object]:
        return "optimal", np.full(len(program.cost), 1.0)

    monkeypatch.setattr(lp, "_highs", over_the_limit)
    schedule = solve(problem)
    assert schedule.status == "fallback"
    assert "broke" in schedule.notes[0] and "above 1.0 kW" in schedule.notes[0]
    assert violations(problem, schedule.power_kw) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"energy_kwh": float("nan")}, "vehicle a energy_kwh must be a finite number"),
        ({"energy_kwh": -3.0}, "vehicle a energy_kwh must be at least 0"),
        ({"max_kw": float("inf")}, "vehicle a max_kw must be a finite number"),
    ],
)
def test_bad_vehicle_numbers_are_refused_with_their_name(
    change: dict[str, float], message: str
) -> None:
    vehicle = dataclasses.replace(ev("a", 1), **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        site([vehicle], [1, 1, 1, 1])


def test_bad_site_numbers_are_refused_with_their_name() -> None:
    nan = float("nan")
    with pytest.raises(ValueError, match=r"tariff price_per_kwh\[1\] must be a finite"):
        site([ev("a", 1)], [1, nan, 1, 1])
    with pytest.raises(ValueError, match="circuit site limit_kw must be at least 0"):
        site([ev("a", 1)], [1, 1, 1, 1], limit=-5)
    with pytest.raises(ValueError, match="charger C-a max_kw must be a finite"):
        site([ev("a", 1)], [1, 1, 1, 1], chargers=[Charger("C-a", "site", nan)])
    with pytest.raises(ValueError, match=r"import_limit_kw\[0\] must be at least 0"):
        site([ev("a", 1)], [1, 1, 1, 1], import_limit_kw=[-1, None, None, None])
    with pytest.raises(ValueError, match=r"base_load_kw\[2\] must be a finite"):
        site([ev("a", 1)], [1, 1, 1, 1], base_load_kw=[0, 0, nan, 0])
    with pytest.raises(ValueError, match="vehicle ids must be unique: a repeated"):
        site([ev("a", 1), ev("a", 2)], [1, 1, 1, 1], chargers=[Charger("C-a", "site", 7)])
    with pytest.raises(ValueError, match="the capacity tree has a cycle"):
        site(
            [ev("a", 1)],
            [1, 1, 1, 1],
            chargers=[Charger("C-a", "x", 7)],
            circuits=[Circuit("site", 10), Circuit("x", 5, "y"), Circuit("y", 5, "x")],
        )
    # Negative prices (a market paying for consumption) and negative base load
    # (on-site generation) are real, and accepted.
    site([ev("a", 1)], [1, -0.2, 1, 1], base_load_kw=[0, -3, 0, 0])


def depot_problem(vehicles: int) -> SiteProblem:
    """The benchmark's depot (a program big enough for a time limit to bite)."""
    from tests.benchmarks.bench_optimizer import depot

    return depot(vehicles)


def hedged(need: float, sure_until: int, **kwargs: float) -> Vehicle:
    """A 4 kW vehicle over 8 one-hour slots whose driver may leave from ``sure_until``."""
    return Vehicle("a", "C-a", 0, 8, need, kwargs.get("max_kw", 4.0), sure_until=sure_until)


def test_energy_moves_ahead_of_the_uncertain_hours_from_any_price() -> None:
    """Day price 0.30, night 0.10 from slot 4, and the driver may leave from slot 4:
    without the hedge the car waits for the night; with it, it charges by day."""
    prices = [0.3] * 4 + [0.1] * 4
    unhedged = solve(site([dataclasses.replace(hedged(8, 4), sure_until=None)], prices))
    assert plan(unhedged, "a") == [0, 0, 0, 0, 4, 4, 0, 0]
    schedule = solve(site([hedged(8, 4)], prices))
    assert plan(schedule, "a") == [4, 4, 0, 0, 0, 0, 0, 0]
    # The cost reported is the money: prices only, not the premium.
    assert schedule.energy_cost == pytest.approx(2.4)
    # Within the uncertain hours, earlier first: 20 kWh need 5 slots.
    spill = solve(site([hedged(20, 4)], prices))
    assert plan(spill, "a") == [4, 4, 4, 4, 4, 0, 0, 0]


def test_the_hedge_does_not_raise_a_paid_peak() -> None:
    """The month already peaked at 2 kW and a kW of peak costs 10: the hedge fills the
    2 kW under it by day and leaves the rest for the night rather than pay for more."""
    prices = [0.3] * 4 + [0.1] * 4
    tariff = Tariff(prices, demand_charge_per_kw=10.0, peak_so_far_kw=2.0)
    schedule = solve(site([hedged(12, 4)], prices, tariff=tariff))
    assert schedule.peak_kw == pytest.approx(2.0)
    assert plan(schedule, "a") == [2, 2, 2, 2, 2, 2, 0, 0]
    # A premium the site sets above what a kW of peak saves does raise it.
    bold = solve(site([hedged(12, 4)], prices, tariff=tariff, risk_premium_per_kwh=50.0))
    assert bold.peak_kw == pytest.approx(3.0) and plan(bold, "a")[:4] == [3, 3, 3, 3]


def test_a_sure_until_before_the_horizon_or_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="sure_until"):
        site([hedged(8, -1)], [0.1] * 8)
    with pytest.raises(ValueError, match="risk_premium_per_kwh"):
        site([hedged(8, 4)], [0.1] * 8, risk_premium_per_kwh=float("nan"))


def test_a_shortfall_is_split_in_proportion_to_the_needs() -> None:
    """8 kWh and 4 kWh wanted, 6 kWh of room: each gets half of what it wanted (not one
    full and the other a quarter), and the total is as much as fits."""
    cars = [ev("a", 8, max_kw=4), ev("b", 4, max_kw=4)]
    schedule = solve(site(cars, [0.2, 0.2, 0.2, 0.2], limit=1.5))
    assert sum(schedule.delivered_kwh.values()) == pytest.approx(6.0)
    assert schedule.delivered_kwh["a"] == pytest.approx(4.0, abs=0.01)
    assert schedule.delivered_kwh["b"] == pytest.approx(2.0, abs=0.01)


def test_a_priority_vehicle_is_served_first() -> None:
    cars = [dataclasses.replace(ev("a", 8, max_kw=4), priority=2.0), ev("b", 4, max_kw=4)]
    schedule = solve(site(cars, [0.2, 0.2, 0.2, 0.2], limit=1.5))
    assert schedule.delivered_kwh["a"] == pytest.approx(6.0)
    assert schedule.shortfall_kwh == {"a": pytest.approx(2.0), "b": pytest.approx(4.0)}
    with pytest.raises(ValueError, match="priority"):
        site([dataclasses.replace(ev("c", 1), priority=0.0)], [0.2])


def test_a_tiny_need_with_no_slot_left_is_a_shortfall_not_an_infeasible_lp() -> None:
    """Found by the generated sites: a car leaving in the slot it came, needing a
    ten-millionth of a kWh; HiGHS once called that LP infeasible."""
    problem = SiteProblem(
        slot_hours=0.25,
        slots=2,
        circuits=[Circuit("site", 1.0), Circuit("f0", 1.0, parent="site")],
        chargers=[Charger("C0", "f0", 11.0, phases="L1")],
        vehicles=[Vehicle("v0", "C0", 0, 0, 1.192092896e-07, 1.0)],
        tariff=Tariff([1.0, 1.0]),
    )
    schedule = solve(problem)
    assert schedule.status == "optimal", schedule.notes
    assert schedule.delivered_kwh["v0"] == 0.0 and violations(problem, schedule.power_kw) == []
