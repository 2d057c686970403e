"""Generated sites with realistic days, for the online-planning tests and benchmark.

A day is 96 slots of 15 minutes from midnight. Twenty 11 kW chargers (some cars
take only 7.4 kW) see cars one after another from the morning to the evening:
stays of 1.5-9 h, 5-30 kWh wanted (no more than the stay allows at the car's
rate), and the driver's estimate of when they leave; a third of drivers leave
1-3 h before their estimate. Time-of-use prices (night 0.10, day 0.20, evening
peak 17:00-21:00 0.35 per kWh) and a demand charge of 15.51 per kW on the month's
peak, which one day's peak can set.

The North American variant (:func:`network_site`): a 208Y/120 V service whose
transformer feeds two pod panels of ten 208 V chargers each (32 A, 6.66 kW),
wired between two lines and rotated over AB, BC, CA as electricians balance
pods (four on AB, three on each of the others: not quite balanced), with
current limits on the transformer's and each panel's lines.
"""

from __future__ import annotations

import random
from dataclasses import replace

from optimizer.online import Visit
from optimizer.problem import Charger, Circuit, SiteProblem, Tariff, Vehicle

SLOT_HOURS = 0.25
SLOTS = 96
CHARGERS = 20


def price_at(hour: float) -> float:
    """The day's time-of-use price at ``hour`` (0-24)."""
    if hour >= 22 or hour < 7:
        return 0.10
    if 17 <= hour < 21:
        return 0.35
    return 0.20


def site(limit_kw: float) -> SiteProblem:
    """The site (no vehicles yet) with connection limit ``limit_kw``."""
    return SiteProblem(
        slot_hours=SLOT_HOURS,
        slots=SLOTS,
        circuits=[Circuit("site", limit_kw)],
        chargers=[Charger(f"C{i:02d}", "site", 11.0) for i in range(CHARGERS)],
        vehicles=[],
        tariff=Tariff(
            price_per_kwh=[price_at(t * SLOT_HOURS) for t in range(SLOTS)],
            demand_charge_per_kw=15.51,
            demand_charge_share=1.0,
        ),
    )


PHASE_V = 120.0
"""The 208Y/120 network's phase-to-neutral voltage."""
NA_CHARGER_KW = 208 * 32 / 1000
ROTATION = ("L12", "L23", "L31")


def network_site(limit_kw: float, transformer_a: float, panel_a: float) -> SiteProblem:
    """The 208 V site (no vehicles yet): connection limit ``limit_kw``, the
    transformer's and each pod panel's line currents in amperes."""
    base = site(limit_kw)
    six_amps, one_amp = 6 * 208 / 1000, 208 / 1000
    return replace(
        base,
        circuits=[
            Circuit("site", limit_kw, None, transformer_a * PHASE_V / 1000),
            Circuit("pod-a", limit_kw, "site", panel_a * PHASE_V / 1000),
            Circuit("pod-b", limit_kw, "site", panel_a * PHASE_V / 1000),
        ],
        chargers=[
            Charger(
                f"C{i:02d}",
                "pod-a" if i < CHARGERS // 2 else "pod-b",
                NA_CHARGER_KW,
                ROTATION[(i % (CHARGERS // 2)) % 3],  # type: ignore[arg-type]
                min_kw=six_amps,
                step_kw=one_amp,
            )
            for i in range(CHARGERS)
        ],
    )


def with_month_peak(
    base: SiteProblem, day_seed: int, rates: tuple[float, ...] = (7.4, 11.0, 11.0)
) -> tuple[SiteProblem, list[Visit]]:
    """Day ``day_seed`` on ``base``, starting from the month's peak so far: the offline
    peak of another generated day (seed + 100), as a site's billing month carries it."""
    from optimizer.online import offline  # the yardstick, not part of the generator

    month_peak = offline(base, day(day_seed + 100, rates=rates)).peak_kw
    site = replace(base, tariff=replace(base.tariff, peak_so_far_kw=month_peak))
    return site, day(day_seed, rates=rates)


def day(
    seed: int, early_share: float = 1 / 3, rates: tuple[float, ...] = (7.4, 11.0, 11.0)
) -> list[Visit]:
    """The visits of one generated day."""
    rng = random.Random(seed)

    def slot(hours: float) -> int:
        return max(0, min(SLOTS, round(hours / SLOT_HOURS)))

    visits: list[Visit] = []
    for c in range(CHARGERS):
        hour = rng.uniform(6.0, 10.0)
        while hour < 21.0:
            stay = rng.uniform(1.5, 9.0)
            arrival, estimate = slot(hour), slot(min(24.0, hour + stay))
            if estimate - arrival < 2:
                break
            leave = estimate
            if rng.random() < early_share:
                leave = max(arrival + 2, estimate - slot(rng.uniform(1.0, 3.0)))
            max_kw = rng.choice(rates)
            need = min(rng.uniform(5.0, 30.0), 0.9 * max_kw * (estimate - arrival) * SLOT_HOURS)
            vehicle = Vehicle(
                f"V{c:02d}-{len(visits):03d}", f"C{c:02d}", arrival, leave, round(need, 2), max_kw
            )
            visits.append(Visit(vehicle, estimated_departure=estimate))
            hour = leave * SLOT_HOURS + rng.uniform(0.0, 1.5)  # the next car, after a gap
    return visits
