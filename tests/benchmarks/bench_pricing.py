"""Benchmark: the pricing engine alone, in sessions priced per second.

Generated sessions at a public site in Europe/Amsterdam: 1-3 hours charging at
3.7-22 kW with a meter sample every 5 minutes (12-36 samples), half of them then
parked for 10-120 minutes, starting at any time of a month (so some cross the
night boundary, midnight and a weekend). Three tariffs:

- ``simple``: €0.35/kWh, 21 % VAT;
- ``public``: a €0.50 start fee, energy €0.25 at night (23:00-07:00) and €0.39 by
  day, parking €6/h after a 60-minute grace period billed per minute, a €1
  minimum;
- ``ladder``: a power ladder (below 11 kW, below 22 kW, above) and a weekend rate,
  so every meter interval is a stretch of its own.

    python -m tests.benchmarks.bench_pricing --sessions 20000
    python -m tests.benchmarks.bench_pricing --sessions 20000 --processes 2

Prints sessions per second (single process, or the given number of processes
each pricing its share), the mean stretches per session and a checksum of the
totals. Not part of the test run: it asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from activities.billing.pricing import ZERO, CompiledTariff, compile_tariff
from activities.billing.tariffs import parse_tariff
from activities.billing.timeline import (
    Activity,
    MeterSample,
    SessionTimeline,
    StatusChange,
    price_session,
)

console = Console(width=130)
ZONE = "Europe/Amsterdam"


def _c(kind: str, price: str, *, vat: int = 21, step: int = 1) -> dict[str, Any]:
    return {"type": kind, "price": price, "vat": vat, "step_size": step}


TARIFFS: dict[str, dict[str, Any]] = {
    "simple": {
        "id": "simple",
        "currency": "EUR",
        "elements": [{"price_components": [_c("ENERGY", "0.35")]}],
    },
    "public": {
        "id": "public",
        "currency": "EUR",
        "min_price": {"excl_vat": "1.00"},
        "elements": [
            {"price_components": [_c("FLAT", "0.50")]},
            {
                "price_components": [_c("ENERGY", "0.25")],
                "restrictions": {"start_time": "23:00", "end_time": "07:00"},
            },
            {"price_components": [_c("ENERGY", "0.39"), _c("PARKING_TIME", "6.00", step=60)]},
        ],
    },
    "ladder": {
        "id": "ladder",
        "currency": "EUR",
        "elements": [
            {
                "price_components": [_c("ENERGY", "0.29")],
                "restrictions": {"day_of_week": ["SATURDAY", "SUNDAY"]},
            },
            {"price_components": [_c("ENERGY", "0.30")], "restrictions": {"max_power": 11}},
            {"price_components": [_c("ENERGY", "0.40")], "restrictions": {"max_power": 22}},
            {"price_components": [_c("ENERGY", "0.55")]},
        ],
    },
}
GRACE = {"simple": 0, "public": 3600, "ladder": 0}


def sessions(count: int, seed: int = 13) -> list[SessionTimeline]:
    """``count`` generated sessions (see the module's docstring)."""
    rng = random.Random(seed)
    month = datetime(2026, 3, 1, tzinfo=UTC)
    out = []
    for _ in range(count):
        start = month + timedelta(seconds=rng.randrange(31 * 24 * 3600))
        charge_s = rng.randrange(3600, 3 * 3600)
        kw = rng.uniform(3.7, 22)
        samples = []
        energy = Decimal(rng.randrange(0, 5_000_000))
        meter_start = energy
        for at in range(300, charge_s, 300):
            # The power wanders a little between samples, as a real car's does.
            energy += Decimal(round(kw * rng.uniform(0.8, 1.05) * 300 / 3.6, 1))
            samples.append(MeterSample(start + timedelta(seconds=at), energy))
        energy += Decimal(round(kw * 100 / 3.6, 1))
        statuses = [StatusChange(start, Activity.CHARGING)]
        stop = start + timedelta(seconds=charge_s)
        if rng.random() < 0.5:
            statuses.append(StatusChange(stop, Activity.PARKING))
            stop += timedelta(seconds=rng.randrange(600, 7200))
        out.append(
            SessionTimeline(
                start=start,
                stop=stop,
                meter_start_wh=meter_start,
                meter_stop_wh=energy,
                samples=samples,
                statuses=statuses,
                time_zone=ZONE,
            )
        )
    return out


def _compiled(name: str) -> CompiledTariff:
    return compile_tariff(parse_tariff(TARIFFS[name], parking_grace_s=GRACE[name]))


def _price_all(args: tuple[str, int, int, int]) -> tuple[Decimal, int, float]:
    name, count, seed, _ = args
    compiled = _compiled(name)
    timelines = sessions(count, seed)
    began = time.perf_counter()
    total = ZERO
    periods = 0
    for timeline in timelines:
        priced = price_session(compiled, timeline)
        total += priced.total.excl_vat
        periods += len(priced.periods)
    return total, periods, time.perf_counter() - began


def run(name: str, count: int, processes: int) -> tuple[float, float, Decimal]:
    """Sessions per second, periods per session and the sum of the totals."""
    if processes <= 1:
        total, periods, seconds = _price_all((name, count, 13, 0))
        return count / seconds, periods / count, total
    share = count // processes
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(_compiled, [name] * processes)  # warm the workers (imports, tz data)
        results = pool.map(_price_all, [(name, share, 13 + i, i) for i in range(processes)])
    # Generating the sessions is not pricing: the pricing time of the slowest worker.
    slowest = max(seconds for _, _, seconds in results)
    priced = share * processes
    return (
        priced / slowest,
        sum(p for _, p, _ in results) / priced,
        sum((t for t, _, _ in results), ZERO),
    )


def main() -> None:
    """Price the generated sessions with each tariff and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--tariffs", nargs="+", default=list(TARIFFS), choices=list(TARIFFS))
    args = parser.parse_args()
    table = Table(title=f"pricing engine, {args.sessions} sessions, {args.processes} process(es)")
    for column in ("tariff", "sessions/s", "periods/session", "sum of totals excl. VAT"):
        table.add_column(column, justify="right")
    for name in args.tariffs:
        rate, periods, total = run(name, args.sessions, args.processes)
        table.add_row(name, f"{rate:,.0f}", f"{periods:.2f}", f"€{total:,.2f}")
    console.print(table)


if __name__ == "__main__":
    main()
