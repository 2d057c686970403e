"""Benchmark: charging sessions per second end to end, and OCPP round trips.

Starts ``csms up`` in a separate process (embedded defaults: SQLite, Temporal dev
server) unless ``--api-url`` points at a running stack. N simulated OCPP 1.6
chargers then run sessions (Authorize, StartTransaction, MeterValues x k,
StopTransaction) at an offered rate for a fixed time. A session counts when its
CDR is visible through the API; the rate is sustained when the
StopTransaction -> CDR lag stays flat instead of growing.

A reference run follows on the same Temporal dev server, in this process: a bare
workflow per session (signal-with-start with its stop, one local activity that
writes one row to SQLite) driven by as many concurrent senders as there are
chargers, and the project's sessions/s is printed as a ratio to it; then the same
bare workflow with what operators get from a session in the Temporal UI (its
search attributes, a state upsert at the end, a summary and details), to tell
Temporal's cost of those features from the project's own. Histories of the
project's sessions are checked for progress signals (there should be none) and
for how many settled in one workflow task.

    python tests/benchmarks/bench_sessions.py --stations 100 --rate 0 --seconds 30

Not part of the test run: it prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import websockets
from rich.console import Console
from rich.table import Table
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker
from websockets.typing import Subprotocol

from deploy.simulator import SimulatedCharger, SimulationStats, id_tag_for, provision, station_ids
from workflows import search_attributes as sa

console = Console()


_REFERENCE_DB = Path(tempfile.mkdtemp(prefix="csms-bench-ref-")) / "reference.db"


@activity.defn(name="bare_write_row")
def bare_write_row(session_id: str) -> None:
    """The reference's one row (a sync activity, as sqlite3 is)."""
    import sqlite3

    with sqlite3.connect(_REFERENCE_DB) as db:
        db.execute("CREATE TABLE IF NOT EXISTS cdr (session TEXT PRIMARY KEY, at TEXT)")
        db.execute("INSERT OR IGNORE INTO cdr VALUES (?, datetime('now'))", (session_id,))


@workflow.defn(name="BareSession", sandboxed=False)
class BareSession:
    """The least a durable session can be: started by its stop, one row, done."""

    def __init__(self) -> None:
        self._stopped = False

    @workflow.run
    async def run(self, session_id: str) -> None:
        await workflow.wait_condition(lambda: self._stopped)
        await workflow.execute_local_activity(
            bare_write_row, session_id, start_to_close_timeout=timedelta(seconds=10)
        )

    @workflow.signal
    def stopped(self) -> None:
        self._stopped = True


@workflow.defn(name="FeaturedBareSession", sandboxed=False)
class FeaturedBareSession(BareSession):
    """The bare session plus what operators get from a real one in the Temporal UI: the
    three search attributes at start, a state upsert at the end, a summary and details."""

    @workflow.run
    async def run(self, session_id: str) -> None:
        workflow.set_current_details(f"**active** · {session_id}")
        await super().run(session_id)
        workflow.upsert_search_attributes([sa.STATE.value_set("completed")])
        workflow.set_current_details(f"**completed** · {session_id}")

    @workflow.signal
    def stopped(self) -> None:
        self._stopped = True


def _featured_start(station: str, n: int) -> dict[str, Any]:
    return {
        "search_attributes": TypedSearchAttributes(
            [
                SearchAttributePair(sa.STATION_ID, station),
                SearchAttributePair(sa.STATE, "active"),
                SearchAttributePair(sa.SITE_ID, "bench-reference"),
            ]
        ),
        "static_summary": f"Charging session {n} on {station} connector 1",
    }


async def reference_rate(
    temporal: str, concurrency: int, seconds: float, *, featured: bool = False
) -> float:
    """Bare sessions per second on the same dev server (see the module docstring);
    ``featured``: with the session workflow's search attributes, upsert and details."""
    from concurrent.futures import ThreadPoolExecutor

    client = await Client.connect(temporal)
    queue = f"bench-ref-{'f' if featured else 'b'}-{int(time.time())}"
    kind = FeaturedBareSession if featured else BareSession
    done = 0
    async with Worker(
        client,
        task_queue=queue,
        workflows=[kind],
        activities=[bare_write_row],
        activity_executor=ThreadPoolExecutor(8),
    ):
        began = time.monotonic()
        until = began + seconds

        async def sender(n: int) -> None:
            nonlocal done
            i = 0
            while time.monotonic() < until:
                extra = _featured_start(f"ref-{n}", i) if featured else {}
                handle = await client.start_workflow(
                    kind.run,
                    f"{n}-{i}",
                    id=f"{queue}-{n}-{i}",
                    task_queue=queue,
                    start_signal="stopped",
                    **extra,
                )
                await handle.result()
                done += 1
                i += 1

        await asyncio.gather(*(sender(n) for n in range(concurrency)))
        return done / (time.monotonic() - began)


async def sampled_histories(
    temporal: str, station_prefix: str, sample: int = 50
) -> tuple[int, int, int, int]:
    """Among a sample of the run's session histories, spread over the whole run (the
    load and the drain after it): progress signals, the most events, and how many
    settled in a single workflow task (start and stop delivered together by the relay)
    out of how many sampled."""
    client = await Client.connect(temporal)
    signals = most = single = seen = 0
    query = f"WorkflowType = 'ChargingSession' AND CsmsStationId STARTS_WITH '{station_prefix}'"
    ids = [execution.id async for execution in client.list_workflows(query)]
    for workflow_id in ids[:: max(1, len(ids) // sample)]:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        most = max(most, len(history.events))
        signals += sum(
            1
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            and e.workflow_execution_signaled_event_attributes.signal_name == "progress"
        )
        tasks = sum(
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in history.events
        )
        single += tasks == 1
        seen += 1
        if seen >= sample:
            break
    return signals, most, single, seen


@contextlib.contextmanager
def embedded_stack() -> Iterator[tuple[str, str, str, str]]:
    """``csms up`` in a temporary folder; yields (gateway url, api url, api key, Temporal)."""
    folder = Path(tempfile.mkdtemp(prefix="csms-bench-"))
    ports = {n: free_port() for n in ("temporal", "ui", "gateway", "api")}
    env = {
        **os.environ,
        "CSMS_DATA_DIR": str(folder / ".csms"),
        "CSMS_TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "CSMS_TEMPORAL_UI_PORT": str(ports["ui"]),
        "CSMS_GATEWAY_PORT": str(ports["gateway"]),
        "CSMS_API_PORT": str(ports["api"]),
        "CSMS_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
    }
    log = folder / "up.log"
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "csms"), "up"],
        cwd=folder,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while "CSMS is up" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text())
            time.sleep(0.3)
        key = (folder / ".csms" / "dev-api-key").read_text().strip()
        yield (
            f"ws://127.0.0.1:{ports['gateway']}",
            f"http://127.0.0.1:{ports['api']}",
            key,
            f"127.0.0.1:{ports['temporal']}",
        )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


async def charger_loop(
    gateway: str,
    station: str,
    stats: SimulationStats,
    meter_values: int,
    first_start: float,
    period: float,
    until: float,
) -> None:
    """Sessions every ``period`` seconds from ``first_start`` (back to back if 0)."""
    async with websockets.connect(
        f"{gateway}/{station}",
        subprotocols=[Subprotocol("ocpp1.6")],
        open_timeout=60,
        compression=None,
    ) as ws:
        cp = SimulatedCharger(station, ws, stats, validate=False)
        reader = asyncio.create_task(cp.start())
        try:
            await cp.boot()
            tag = id_tag_for(station)
            next_start = first_start
            while next_start < until:
                await asyncio.sleep(max(0.0, next_start - time.monotonic()))
                tx = await cp.start_transaction(tag)
                for _ in range(meter_values):
                    await cp.send_meter(tx, cp.register_wh + 250)
                await cp.stop_transaction(tx, cp.register_wh, tag)
                stats.sessions_completed += 1
                now = time.monotonic()
                next_start = max(next_start + period, now) if period else now
        finally:
            reader.cancel()


async def all_cdrs(http: httpx.AsyncClient, site: str) -> list[dict[str, Any]]:
    """Every CDR of ``site`` through the API, page by page."""
    rows: list[dict[str, Any]] = []
    while True:
        params: dict[str, str | int] = {"site_id": site, "limit": 1000, "offset": len(rows)}
        page = (await http.get("/cdrs", params=params)).json()
        rows += page
        if len(page) < 1000:
            return rows


def free_port() -> int:
    """A TCP port nobody listens on right now (a standalone script: no test helpers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: int) -> float:
    """The q-th percentile (nan when empty)."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def run(
    gateway: str,
    api: str,
    key: str,
    stations: int,
    seconds: float,
    meter_values: int,
    rate: float,
    temporal: str | None = None,
) -> None:
    """Drive the load, wait for every CDR, print the table (with the reference run
    when the Temporal address is known)."""
    stamp = int(time.time())
    site = f"bench-{stamp}"
    prefix = f"B{stamp % 100000}"
    ids = station_ids(stations, prefix=prefix)
    await provision(api, key, ids, site_id=site)
    stats = SimulationStats()
    began = time.monotonic() + 2.0  # every charger connected and booted by then
    began_wall = datetime.now(UTC) + timedelta(seconds=2.0)
    period = stations / rate if rate else 0.0
    await asyncio.gather(
        *(
            charger_loop(
                gateway,
                station,
                stats,
                meter_values,
                began + (i * period / stations),
                period,
                began + seconds,
            )
            for i, station in enumerate(ids)
        )
    )
    sent = time.monotonic()
    sent_wall = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=api, headers={"X-API-Key": key}, timeout=30) as http:
        cdrs = await all_cdrs(http, site)
        while len(cdrs) < stats.sessions_completed and time.monotonic() - sent < 300:
            await asyncio.sleep(0.5)
            cdrs = await all_cdrs(http, site)
    settled = time.monotonic()
    lag = [
        (
            datetime.fromisoformat(c["created_at"]) - datetime.fromisoformat(c["stopped_at"])
        ).total_seconds()
        * 1000
        for c in cdrs
    ]
    offered = f"{rate:g} sessions/s offered" if rate else "back to back"
    table = Table(
        title=f"Sessions end to end: {stations} chargers, {offered}, {seconds:.0f} s, "
        f"{meter_values} MeterValues per session"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("sessions completed (CDR visible)", f"{len(cdrs)} / {stats.sessions_completed}")
    table.add_row("sessions/s at the chargers", f"{stats.sessions_completed / (sent - began):.1f}")
    project_rate = len(cdrs) / (settled - began)
    table.add_row("sessions/s end to end (first start to last CDR)", f"{project_rate:.1f}")
    # How fast sessions settled while the chargers ran and after they stopped (the
    # backlog's drain): where an end-to-end rate below the chargers' comes from.
    written = sorted(datetime.fromisoformat(c["created_at"]) for c in cdrs)
    during = sum(1 for w in written if w <= sent_wall)
    drain = (written[-1] - sent_wall).total_seconds() if written and during < len(written) else 0
    table.add_row(
        "settled while chargers ran / after (sessions/s)",
        f"{during / max(1e-9, (sent_wall - began_wall).total_seconds()):.1f} / "
        + (f"{(len(written) - during) / drain:.1f} over {drain:.0f} s" if drain else "-"),
    )
    for action in ("StartTransaction", "MeterValues", "StopTransaction"):
        samples = stats.rtt_ms.get(action, [])
        table.add_row(
            f"{action} RTT p50 / p99 (ms)", f"{pct(samples, 50):.1f} / {pct(samples, 99):.1f}"
        )
    table.add_row(
        "StopTransaction -> CDR written p50 / p99 (ms)", f"{pct(lag, 50):.0f} / {pct(lag, 99):.0f}"
    )
    table.add_row("errors", str(stats.errors))
    if temporal is not None:
        signals, most, single, seen = await sampled_histories(temporal, prefix)
        table.add_row(f"progress signals in {seen} sampled histories", str(signals))
        table.add_row("most history events among them", str(most))
        table.add_row("of them settled in one workflow task", str(single))
        reference = await reference_rate(temporal, stations, seconds)
        table.add_row("reference: bare workflow sessions/s (same server)", f"{reference:.1f}")
        table.add_row("project / reference", f"{project_rate / reference:.2f}x")
        featured = await reference_rate(temporal, stations, seconds, featured=True)
        table.add_row(
            "reference with the session's search attributes and details", f"{featured:.1f}"
        )
        table.add_row("project / that reference", f"{project_rate / featured:.2f}x")
    console.print(table)


def main() -> None:
    """Parse arguments and run against an embedded or a given stack."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument(
        "--rate",
        type=float,
        default=20.0,
        help="sessions per second offered by all chargers (0: back to back)",
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--meter-values", type=int, default=3)
    parser.add_argument("--gateway-url")
    parser.add_argument("--api-url")
    parser.add_argument("--api-key")
    args = parser.parse_args()
    load = (args.stations, args.seconds, args.meter_values, args.rate)
    if args.api_url:
        asyncio.run(run(args.gateway_url, args.api_url, args.api_key, *load))
        return
    with embedded_stack() as (gateway, api, key, temporal):
        asyncio.run(run(gateway, api, key, *load, temporal=temporal))


if __name__ == "__main__":
    main()
