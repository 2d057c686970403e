"""Benchmark: reconnect churn against the full gateway, with and without the GC policy.

Stations connect, boot, send a Heartbeat and close, over and over (ocpp-rpc
clients in a separate Node process, ``concurrency`` at a time), in rounds; the
gateway's resident memory is read after each round. Memory that keeps growing
round after round would be a leak: the GC policy freezes long-lived objects,
and a closed connection's reference cycles among them wait for a thaw.

    python tests/benchmarks/bench_churn.py --stations 2000 --seconds 30 --rounds 4

Not part of the test run: it prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from tests.benchmarks.bench_gateway import CONFORMANCE, HERE, raise_fd_limit, rss_kib, serving

console = Console(width=120)


def run(policy: bool, stations: int, seconds: float, rounds: int) -> list[dict[str, Any]]:
    """Serve ``rounds`` rounds of churn; the figures of each round."""
    env = {
        "CSMS_MESSAGE_LOG": "off",  # memory of the gateway, not of SQLite's page cache
        "CSMS_BENCH_GC_POLICY": "on" if policy else "off",
    }
    with serving("gateway", stations, env) as served:
        pid = served.process.pid
        figures = [{"round": 0, "connections": 0, "errors": 0, "rss_mib": rss_kib(pid) / 1024}]
        for number in range(1, rounds + 1):
            options = {
                "url": f"ws://127.0.0.1:{served.port}/ocpp",
                "prefix": served.prefix,
                "count": stations,
                "seconds": seconds,
                "concurrency": 100,
            }
            load = subprocess.run(
                ["node", str(HERE / "churn.mjs"), json.dumps(options)],
                capture_output=True,
                text=True,
                check=True,
            )
            time.sleep(1)  # closing sockets settle
            figures.append(
                {"round": number, **json.loads(load.stdout), "rss_mib": rss_kib(pid) / 1024}
            )
        return figures


def main() -> None:
    """Run the churn with and without the GC policy and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=30.0, help="per round")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    if not (CONFORMANCE / "node_modules" / "ocpp-rpc").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CONFORMANCE, check=True)
    raise_fd_limit()
    table = Table(
        title=f"Reconnect churn: {args.stations} station ids, connect + boot + heartbeat + "
        f"close, 100 at a time, rounds of {args.seconds:g} s"
    )
    for column in ("GC policy", "round", "reconnects", "reconnects/s", "gateway RSS MiB", "errors"):
        table.add_column(column, justify="right")
    for policy in (True, False):
        for row in run(policy, args.stations, args.seconds, args.rounds):
            table.add_row(
                "on" if policy else "off",
                str(row["round"]),
                str(row["connections"]),
                f"{row['connections'] / args.seconds:.0f}" if row["round"] else "",
                f"{row['rss_mib']:.1f}",
                str(row["errors"]),
                end_section=row["round"] == args.rounds,
            )
    console.print(table)


if __name__ == "__main__":
    main()
