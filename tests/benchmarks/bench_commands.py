"""Benchmark: charger command round trips, API -> Temporal -> gateway -> charger -> back.

Starts ``csms up`` in a separate process (embedded defaults: SQLite, Temporal dev
server, worker in its own process), connects N OCPP 1.6 stations that answer
every command at once, then measures:

- single commands: sequential ``POST /stations/{id}/commands/clear-cache`` calls,
  the whole HTTP round trip (API, StationCommand workflow, registry lookup,
  activity on the node's queue, the charger's answer), p50/p99;
- fan-out: one ``POST /configuration-pushes`` to all N stations, the time until
  every station has answered.

    python -m tests.benchmarks.bench_commands --stations 1000 --singles 300

Not part of the test run: it prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from typing import Any

import httpx
import websockets
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from deploy.simulator import provision, station_ids
from tests.benchmarks.bench_sessions import embedded_stack, pct

console = Console()

ANSWERS: dict[str, dict[str, Any]] = {
    "ChangeConfiguration": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"},
}


async def answering_station(ws: ClientConnection) -> None:
    """Answer every CSMS CALL at once (ignore everything else)."""
    async for raw in ws:
        frame = json.loads(raw)
        if frame[0] == 2:
            await ws.send(json.dumps([3, frame[1], ANSWERS.get(frame[2], {"status": "Accepted"})]))


async def connect_all(gateway: str, ids: list[str]) -> list[ClientConnection]:
    """Open every station's socket, 100 at a time."""
    limit = asyncio.Semaphore(100)

    async def one(station: str) -> ClientConnection:
        async with limit:
            return await websockets.connect(
                f"{gateway}/{station}",
                subprotocols=[Subprotocol("ocpp1.6")],
                open_timeout=60,
                compression=None,
            )

    return list(await asyncio.gather(*(one(s) for s in ids)))


async def all_online(http: httpx.AsyncClient, site: str, count: int) -> None:
    """Wait until the registry holds every station."""
    while True:
        rows = (await http.get("/stations", params={"site_id": site, "limit": 1000})).json()
        if sum(r["online"] for r in rows) >= min(count, 1000):
            return
        await asyncio.sleep(0.5)


async def run(stations: int, singles: int) -> None:
    """Connect, measure, print."""
    with embedded_stack() as (gateway, api, key, _temporal):
        ids = station_ids(stations, prefix="CMD")
        site = "bench-commands"
        began = time.monotonic()
        await provision(api, key, ids, site_id=site)
        console.print(f"provisioned {stations} stations in {time.monotonic() - began:.1f} s")
        sockets = await connect_all(gateway, ids)
        readers = [asyncio.create_task(answering_station(ws)) for ws in sockets]
        async with httpx.AsyncClient(base_url=api, headers={"X-API-Key": key}, timeout=120) as http:
            await all_online(http, site, stations)
            console.print(f"{stations} stations online")
            # Warm-up: first workflow tasks, caches, the node worker's pollers.
            for station in ids[:20]:
                (await http.post(f"/stations/{station}/commands/clear-cache")).raise_for_status()
            latencies: list[float] = []
            failures = 0
            for _ in range(singles):
                station = random.choice(ids)
                t0 = time.perf_counter()
                response = await http.post(f"/stations/{station}/commands/clear-cache")
                latencies.append((time.perf_counter() - t0) * 1000)
                failures += response.status_code != 200
            t0 = time.perf_counter()
            started = await http.post(
                "/configuration-pushes",
                json={"key": "HeartbeatInterval", "value": "300", "site_id": site},
            )
            started.raise_for_status()
            push_id = started.json()["push_id"]
            while True:
                progress = (await http.get(f"/configuration-pushes/{push_id}")).json()
                if progress["done"]:
                    break
                await asyncio.sleep(0.1)
            fan_out_s = time.perf_counter() - t0
        for ws in sockets:
            await ws.close()
        for task in readers:
            task.cancel()

    table = Table(title=f"Command round trips, {stations} OCPP 1.6 stations, embedded stack")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("single command p50 (ms)", f"{pct(latencies, 50):.1f}")
    table.add_row("single command p99 (ms)", f"{pct(latencies, 99):.1f}")
    table.add_row("single command mean (ms)", f"{statistics.fmean(latencies):.1f}")
    table.add_row("single commands sent / failed", f"{singles} / {failures}")
    table.add_row(f"fan-out to {progress['total']} stations (s)", f"{fan_out_s:.2f}")
    table.add_row("fan-out outcomes", json.dumps(progress["by_status"]))
    console.print(table)


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(run(args.stations, args.singles))


if __name__ == "__main__":
    main()
