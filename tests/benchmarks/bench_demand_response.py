"""Benchmark: a utility's event reaching every charger of a smart-charged site.

Starts ``csms up`` in a separate process (embedded defaults: SQLite, Temporal dev
server), connects N OCPP 1.6 chargers of one site, each charging a car at up to
11 kW and obeying the charging profiles it is sent (the schedule's limit at the
time, in W or A), with its energy register in MeterValues every few seconds.
Then, through the OpenADR 3 VTN as a utility would:

- latency: ``--events`` events starting now, each capping the site below what the
  cars take; from the POST to every charger having accepted a profile sent after
  it, p50/p99 (and whether the profiles, summed, keep to the cap); each event is
  cancelled and the lift awaited before the next;
- compliance: one event announced a minute ahead, with ``--intervals`` intervals of
  one slot each at alternating caps; when it ends, its report: the share of
  intervals whose demand (from the chargers' meter values) kept to the limit, and
  the baseline (the plan without the event) against the demand.

    python -m tests.benchmarks.bench_demand_response --chargers 100 --events 20

Not part of the test run: it prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import websockets
from rich.console import Console
from rich.table import Table
from websockets.typing import Subprotocol

from activities.compliance import compliant
from deploy.simulator import (
    MAX_KW,
    ObedientCharger,
    SimulationStats,
    id_tag_for,
    provision,
    station_ids,
)
from tests.benchmarks.bench_sessions import embedded_stack, pct

console = Console()

METER_EVERY_S = 2.0


async def charger(gateway: str, station: str, stats: SimulationStats) -> ObedientCharger:
    """Connect, boot, start a session; a task keeps its meter running."""
    ws = await websockets.connect(
        f"{gateway}/{station}", subprotocols=[Subprotocol("ocpp1.6")], open_timeout=60
    )
    cp = ObedientCharger(station, ws, stats)
    asyncio.get_running_loop().create_task(cp.start())
    await cp.boot()
    await cp.status("Preparing")
    tx = await cp.start_transaction(id_tag_for(station))
    await cp.status("Charging")
    asyncio.get_running_loop().create_task(cp.follow(tx, METER_EVERY_S))
    return cp


async def token(http: httpx.AsyncClient, client: dict[str, Any]) -> dict[str, str]:
    """A bearer header from the VTN's token endpoint."""
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    answer = await http.post(
        "/openadr3/auth/token",
        content="grant_type=client_credentials",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def event(program_id: str, start: datetime, slot_s: int, caps: list[float]) -> dict[str, Any]:
    """An IMPORT_CAPACITY_LIMIT event of one interval per cap."""
    return {
        "programID": program_id,
        "eventName": "bench",
        "intervalPeriod": {"start": start.isoformat(), "duration": f"PT{slot_s}S"},
        "intervals": [
            {"id": n, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [cap]}]}
            for n, cap in enumerate(caps)
        ],
    }


async def all_profiled(cps: list[ObedientCharger], after: float, timeout: float = 60) -> float:
    """Seconds from ``after`` until every charger holds a profile sent after it."""
    deadline = time.perf_counter() + timeout
    while True:
        times = [next((t for t, _ in cp.profiles if t > after), None) for cp in cps]
        if all(t is not None for t in times):
            return max(t for t in times if t is not None) - after
        if time.perf_counter() > deadline:
            missing = sum(t is None for t in times)
            raise TimeoutError(f"{missing} chargers got no new profile in {timeout} s")
        await asyncio.sleep(0.01)


async def run(
    chargers: int, events: int, intervals: int, slot_minutes: int, horizon_hours: int
) -> None:
    """Connect, measure, print."""
    with embedded_stack() as (gateway, api, key, _temporal):
        ids = station_ids(chargers, prefix="DR")
        site = "bench-dr"
        await provision(api, key, ids, site_id=site)
        connection_kw = MAX_KW * chargers
        async with httpx.AsyncClient(base_url=api, headers={"X-API-Key": key}, timeout=120) as op:
            config = {
                "connection_kw": connection_kw,
                "chargers": [{"station_id": s, "max_kw": MAX_KW} for s in ids],
                "prices": [{"start_hour": 0, "end_hour": 24, "price_per_kwh": 0.2}],
                "slot_minutes": slot_minutes,
                "horizon_hours": horizon_hours,
                "default_energy_kwh": 60.0,
            }
            (await op.put(f"/sites/{site}/smart-charging", json=config)).raise_for_status()
            made = (await op.post("/utilities", json={"name": "Grid", "sites": [site]})).json()
        stats = SimulationStats()
        cps = [await charger(gateway, s, stats) for s in ids]
        await all_profiled(cps, 0.0, timeout=120)
        console.print(f"{chargers} chargers charging under the site's plan")
        async with httpx.AsyncClient(base_url=api, timeout=120) as http:
            bearer = await token(http, made)
            program = await http.post(
                "/openadr3/programs", headers=bearer, json={"programName": "bench"}
            )
            program_id = program.json()["id"]
            latencies: list[float] = []
            within = 0
            for n in range(events):
                cap = connection_kw * (0.3 if n % 2 else 0.5)
                t0 = time.perf_counter()
                answer = await http.post(
                    "/openadr3/events",
                    headers=bearer,
                    json=event(program_id, datetime.now(UTC), 3600, [cap]),
                )
                answer.raise_for_status()
                latencies.append(await all_profiled(cps, t0))
                now = datetime.now(UTC)
                within += sum(cp.limit_kw(now) for cp in cps) <= cap + 1e-6
                t1 = time.perf_counter()
                gone = await http.delete(f"/openadr3/events/{answer.json()['id']}", headers=bearer)
                gone.raise_for_status()
                await all_profiled(cps, t1)
            # Compliance: an event a minute ahead, from a slot boundary, cap per slot.
            slot = timedelta(minutes=slot_minutes)
            ahead = datetime.now(UTC) + timedelta(minutes=1)
            start = datetime.fromtimestamp(
                (ahead.timestamp() // slot.total_seconds() + 1) * slot.total_seconds(), UTC
            )
            caps = [connection_kw * (0.4 if i % 2 == 0 else 0.25) for i in range(intervals)]
            posted = await http.post(
                "/openadr3/events",
                headers=bearer,
                json=event(program_id, start, int(slot.total_seconds()), caps),
            )
            posted.raise_for_status()
            ends = start + slot * intervals
            console.print(f"compliance event {start:%H:%M:%S}-{ends:%H:%M:%S} UTC")
            report: dict[str, Any] | None = None
            while report is None:
                await asyncio.sleep(5)
                found = await http.get(
                    "/openadr3/reports", headers=bearer, params={"eventID": posted.json()["id"]}
                )
                report = found.json()[0] if found.json() else None
    [resource] = report["resources"]
    verdicts = [v for v in compliant(resource) if v is not None]
    values = [{p["type"]: p["values"][0] for p in i["payloads"]} for i in resource["intervals"]]

    table = Table(title=f"Demand response, {chargers} OCPP 1.6 chargers, embedded stack")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("events posted", str(events))
    table.add_row("POST to all chargers profiled p50 (s)", f"{pct(latencies, 50):.2f}")
    table.add_row("POST to all chargers profiled p99 (s)", f"{pct(latencies, 99):.2f}")
    table.add_row("mean / max (s)", f"{statistics.fmean(latencies):.2f} / {max(latencies):.2f}")
    table.add_row("events whose profiles sum within the cap", f"{within} / {events}")
    table.add_row(
        "compliant intervals (report)",
        f"{sum(verdicts)} / {len(verdicts)} ({100 * sum(verdicts) / max(1, len(verdicts)):.0f}%)",
    )
    for n, v in enumerate(values):
        table.add_row(
            f"interval {n}: demand / limit / baseline (kW)",
            f"{v['DEMAND']:.1f} / {v.get('IMPORT_CAPACITY_LIMIT', float('nan')):.1f} / "
            f"{v.get('BASELINE', float('nan')):.1f} ({v['DATA_QUALITY']})",
        )
    console.print(table)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=100)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--intervals", type=int, default=2)
    parser.add_argument("--slot-minutes", type=int, default=5)
    parser.add_argument("--horizon-hours", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(
        run(args.chargers, args.events, args.intervals, args.slot_minutes, args.horizon_hours)
    )


if __name__ == "__main__":
    main()
