"""Benchmark: the site load LP against the baselines on a synthetic overnight depot.

N vehicles, 96 slots of 15 minutes from 12:00; arrivals around 18:30 and
departures around 06:30 (each +-1 h, uniform), energy need 10-60 kWh, one
11 kW charger each, site limit 3.5 kW x N; time-of-use prices 0.05623
(23:00-08:00), 0.0925 (08:00-12:00 and 18:00-23:00), 0.26668 (12:00-18:00)
per kWh; demand charge 15.51 per kW-month on the month's peak.

    python -m tests.benchmarks.bench_optimizer --vehicles 50 500 5000
    python -m tests.benchmarks.bench_optimizer --vehicles 50 500 5000 --line-to-line
    python -m tests.benchmarks.bench_optimizer --online --limits 50 100 150 --days 3
    python -m tests.benchmarks.bench_optimizer --network --days 3
    python -m tests.benchmarks.bench_optimizer --premiums 1 3 10 30

Prints build time, solve time, energy cost, peak and energy delivered for the
LP and each baseline. With ``--online``: generated realistic days
(``tests/optimizer/sites.py``) planned online, re-planning at each arrival and
departure with drivers' estimates (a third leave 1-3 h early), against the
offline optimum that knew every arrival and departure; each day starts with the
month's peak so far (the offline peak of another generated day). With
``--network``: the 208Y/120 V site of line-to-line chargers in rotated pods
(``sites.network_site``), planned with the exact line currents and with the
two models a flat or per-phase configuration amounts to (a kW limit of the
transformer's and panels' kVA; each 208 V charger on its leading line only),
every plan's worst line current measured from the network's voltages
(``tests/optimizer/phasors.py``). Not part of the test run: it asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import time

from rich.console import Console
from rich.table import Table

from optimizer.baselines import earliest_deadline_first, least_laxity_first, uncontrolled
from optimizer.lp import solve
from optimizer.problem import Charger, Circuit, SiteProblem, Tariff, Vehicle

console = Console(width=150)

START_HOUR = 12.0
SLOT_HOURS = 0.25
SLOTS = 96


def price_at(hour: float) -> float:
    """The depot's time-of-use price at ``hour`` (0-24)."""
    if hour >= 23 or hour < 8:
        return 0.05623
    if 12 <= hour < 18:
        return 0.26668
    return 0.0925


def depot(vehicles: int, seed: int = 7) -> SiteProblem:
    """The synthetic depot with ``vehicles`` vehicles."""
    rng = random.Random(seed)

    def slot(hour: float) -> int:
        return max(0, min(SLOTS, round((hour - START_HOUR) / SLOT_HOURS)))

    fleet = []
    for i in range(vehicles):
        arrive = 18.5 + rng.uniform(-1, 1)
        leave = 24 + 6.5 + rng.uniform(-1, 1)
        fleet.append(
            Vehicle(
                id=f"EV{i:05d}",
                charger=f"C{i:05d}",
                arrival=slot(arrive),
                departure=slot(leave),
                energy_kwh=rng.uniform(10, 60),
                max_kw=11.0,
            )
        )
    return SiteProblem(
        slot_hours=SLOT_HOURS,
        slots=SLOTS,
        circuits=[Circuit("site", limit_kw=3.5 * vehicles)],
        chargers=[Charger(f"C{i:05d}", "site", 11.0) for i in range(vehicles)],
        vehicles=fleet,
        tariff=Tariff(
            price_per_kwh=[price_at((START_HOUR + t * SLOT_HOURS) % 24) for t in range(SLOTS)],
            demand_charge_per_kw=15.51,
            # The billing period is one month: the month's single highest peak sets
            # the whole charge, so tonight's peak carries the full monthly rate.
            demand_charge_share=1.0,
        ),
    )


def line_to_line(problem: SiteProblem) -> SiteProblem:
    """The depot behind a transformer whose lines each carry a third of the connection,
    its chargers between two lines, rotated over AB, BC, CA."""
    from dataclasses import replace

    rotation = ("L12", "L23", "L31")
    return replace(
        problem,
        circuits=[
            replace(c, phase_limit_kw=c.limit_kw / 3) if c.parent is None else c
            for c in problem.circuits
        ],
        chargers=[
            replace(c, phases=rotation[i % 3])  # type: ignore[arg-type]
            for i, c in enumerate(problem.chargers)
        ],
    )


def online_table(limits: list[float], days: int) -> Table:
    """Online policies against the offline optimum on generated days."""

    from optimizer.online import POLICIES, offline, online
    from tests.optimizer import sites

    table = Table(title="Online re-planning vs the offline optimum (generated days)")
    for column in (
        "limit kW",
        "day",
        "visits",
        "policy",
        "total cost",
        "vs offline",
        "peak kW",
        "delivered",
        "cost per kWh",
        "re-plans",
        "solve ms mean / max",
    ):
        table.add_column(column, justify="right")
    for limit in limits:
        for day in range(1, days + 1):
            site, visits = sites.with_month_peak(sites.site(limit), day)
            best = offline(site, visits)
            for outcome in [best, *(online(site, visits, policy=p) for p in POLICIES)]:
                times = [t * 1000 for t in outcome.solve_s]
                table.add_row(
                    f"{limit:g}",
                    str(day),
                    str(len(visits)),
                    outcome.policy,
                    f"{outcome.total_cost:,.2f}",
                    "" if outcome is best else f"{outcome.total_cost / best.total_cost - 1:+.1%}",
                    f"{outcome.peak_kw:.1f}",
                    f"{outcome.delivered_share:.1%}",
                    f"{outcome.total_cost / outcome.delivered_kwh:.3f}",
                    str(outcome.replans),
                    f"{sum(times) / len(times):.0f} / {max(times):.0f}",
                )
    return table


def premium_table(limits: list[float], days: int, premiums: list[float]) -> Table:
    """The hedged policy's trade-off: its risk premium against cost gap and energy lost."""
    from dataclasses import replace

    from optimizer.online import offline, online
    from tests.optimizer import sites

    table = Table(title="Hedged online planning: risk premium vs the offline optimum")
    for column in (
        "premium per kWh",
        "worst cost gap",
        "mean cost gap",
        "worst points lost",
        "mean",
    ):
        table.add_column(column, justify="right")
    cases = []
    for limit in limits:
        for day in range(1, days + 1):
            site, visits = sites.with_month_peak(sites.site(limit), day)
            cases.append((site, visits, offline(site, visits)))
    for premium in [None, *premiums]:
        gaps, lost = [], []
        for site, visits, best in cases:
            outcome = online(replace(site, risk_premium_per_kwh=premium), visits, policy="hedged")
            gaps.append(outcome.total_cost / best.total_cost - 1)
            lost.append(100 * (best.delivered_share - outcome.delivered_share))
        table.add_row(
            "auto (2.2 x spread)" if premium is None else f"{premium:g}",
            f"{max(gaps):+.1%}",
            f"{sum(gaps) / len(gaps):+.1%}",
            f"{max(lost):.1f}",
            f"{sum(lost) / len(lost):.1f}",
        )
    return table


def network_table(days: int) -> Table:
    """The exact line-current model against flat and one-line models, 208 V site."""
    from dataclasses import replace

    from optimizer.lp import solve as plan
    from optimizer.online import offline, online
    from optimizer.pilot import to_pilot
    from optimizer.problem import PhaseWiring
    from tests.optimizer import phasors, sites

    leading: dict[str, PhaseWiring] = {"L12": "L1", "L23": "L2", "L31": "L3"}

    def flat(site: SiteProblem) -> SiteProblem:
        # What a site configured in kW only amounts to: each circuit's kVA, no lines.
        return replace(
            site,
            circuits=[
                replace(
                    c,
                    limit_kw=min(c.limit_kw, 3 * (c.phase_limit_kw or c.limit_kw)),
                    phase_limit_kw=None,
                )
                for c in site.circuits
            ],
        )

    def one_line(site: SiteProblem) -> SiteProblem:
        # An L1/L2/L3 model: a charger between two lines counted on its first only.
        return replace(
            site,
            chargers=[replace(c, phases=leading.get(c.phases, c.phases)) for c in site.chargers],
        )

    table = Table(title="208Y/120 V site, line-to-line chargers in pods: line-current models")
    for column in (
        "transformer / panel A",
        "day",
        "model",
        "worst line vs breaker",
        "slots over",
        "delivered",
        "total cost",
    ):
        table.add_column(column, justify="right")
    rates = (sites.NA_CHARGER_KW, sites.NA_CHARGER_KW, 3.8)
    for transformer_a, panel_a in ((208.0, 100.0), (150.0, 70.0), (100.0, 50.0)):
        for day in range(1, days + 1):
            site, visits = sites.with_month_peak(
                sites.network_site(75.0, transformer_a, panel_a), day, rates
            )
            full = replace(site, vehicles=[v.vehicle for v in visits])
            runs = [
                ("exact, offline", offline(site, visits).power_kw),
                ("flat kW, offline", offline(flat(site), visits).power_kw),
                ("one line, offline", offline(one_line(site), visits).power_kw),
                (
                    "exact, online hedged + pilot",
                    online(
                        site, visits, policy="hedged", planner=lambda p: to_pilot(p, plan(p))
                    ).power_kw,
                ),
            ]
            for name, power in runs:
                worst = 0.0
                over = phasors.overloads(full, power, sites.PHASE_V)
                for circuit in full.circuits:
                    breaker = (circuit.phase_limit_kw or 0.0) * 1000 / sites.PHASE_V
                    for t in range(full.slots):
                        amps = phasors.line_amperes(full, power, t, circuit.id, sites.PHASE_V)
                        worst = max(worst, max(amps) / breaker)
                schedule_cost = sum(
                    kw * full.slot_hours * full.tariff.price_per_kwh[t]
                    for series in power.values()
                    for t, kw in enumerate(series)
                )
                delivered = sum(sum(s) for s in power.values()) * full.slot_hours
                needed = sum(v.vehicle.energy_kwh for v in visits)
                peak = max(
                    [full.tariff.peak_so_far_kw]
                    + [sum(s[t] for s in power.values()) for t in range(full.slots)]
                )
                table.add_row(
                    f"{transformer_a:g} / {panel_a:g}",
                    str(day),
                    name,
                    f"{worst:.1%}",
                    str(len({t for _, t, _ in over})),
                    f"{delivered / needed:.1%}",
                    f"{schedule_cost + full.tariff.demand_charge_per_kw * peak:,.2f}",
                )
    return table


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vehicles", type=int, nargs="+", default=[50, 500, 5000])
    parser.add_argument("--solver", default="highs", choices=["highs", "cbc"])
    parser.add_argument("--online", action="store_true", help="the online-vs-offline table")
    parser.add_argument("--limits", type=float, nargs="+", default=[50, 100, 150])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--network", action="store_true", help="the line-current table")
    parser.add_argument(
        "--line-to-line",
        action="store_true",
        help="the depot behind a transformer, its chargers rotated over AB, BC, CA",
    )
    parser.add_argument(
        "--premiums", type=float, nargs="*", help="the hedge's trade-off at these premiums"
    )
    args = parser.parse_args()
    if args.network:
        console.print(network_table(args.days))
        return
    if args.premiums is not None:
        console.print(premium_table(args.limits, args.days, args.premiums))
        return
    if args.online:
        console.print(online_table(args.limits, args.days))
        return
    table = Table(title="Overnight depot: LP vs baselines (96 slots of 15 min)")
    for column in (
        "vehicles",
        "method",
        "build s",
        "solve s",
        "energy cost",
        "demand cost",
        "total",
        "peak kW",
        "delivered",
        "LP saves",
    ):
        table.add_column(column, justify="right")
    for n in args.vehicles:
        problem = depot(n)
        if args.line_to_line:
            problem = line_to_line(problem)
        began = time.perf_counter()
        lp = solve(problem, solver=args.solver)
        lp_wall = time.perf_counter() - began
        rows = [lp]
        for baseline in (uncontrolled, earliest_deadline_first, least_laxity_first):
            t0 = time.perf_counter()
            schedule = baseline(problem)
            schedule.solve_s = time.perf_counter() - t0
            rows.append(schedule)
        for schedule in rows:
            saving = 1 - lp.total_cost / schedule.total_cost if schedule is not lp else 0.0
            table.add_row(
                str(n),
                schedule.method,
                f"{schedule.build_s:.2f}" if schedule is lp else "-",
                f"{schedule.solve_s:.2f}",
                f"{schedule.energy_cost:,.2f}",
                f"{schedule.demand_cost:,.2f}",
                f"{schedule.total_cost:,.2f}",
                f"{schedule.peak_kw:,.1f}",
                f"{schedule.delivered_share:.1%}",
                "" if schedule is lp else f"{saving:.1%}",
            )
        console.print(f"N={n}: LP built and solved in {lp_wall:.2f} s ({lp.status})")
    console.print(table)


if __name__ == "__main__":
    main()
