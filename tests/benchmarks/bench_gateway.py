"""Benchmark: the OCPP gateway under N concurrent stations, against a bare reference server.

For each N, the full gateway (validation, database, registry) and the bare
reference server built from the ``ocpp`` library's documented example each
serve the same load: N ocpp-rpc clients in a separate Node process connect at
once, sit idle for a moment (memory per idle connection is read then), then
send Heartbeat and MeterValues in turn at a total rate. Prints a table.

    python tests/benchmarks/bench_gateway.py --stations 1000 5000 10000 --rate 1000 --seconds 30

Not part of the test run: it prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).parent / "gateway_load"
CONFORMANCE = Path(__file__).parent.parent / "gateway" / "conformance"
console = Console(width=140)


def free_port() -> int:
    """A TCP port nobody listens on right now (a standalone script: no test helpers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident memory of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def raise_fd_limit() -> None:
    """Allow as many sockets as the hard limit permits (inherited by the children)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Served:
    """A running server: its process, port, and the prefix of its station ids."""

    process: subprocess.Popen[str]
    port: int
    prefix: str


@contextmanager
def serving(kind: str, stations: int, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Run the full gateway (with ``stations`` registered) or the reference server."""
    folder = Path(tempfile.mkdtemp(prefix="csms-gw-bench-"))
    port = free_port()
    prefix = f"L{int(time.time()) % 100000}-"
    script = HERE / ("serve_gateway.py" if kind == "gateway" else "reference_server.py")
    args = [sys.executable, str(script), str(port)]
    if kind == "gateway":
        args += [str(stations), prefix, str(folder)]
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), **(env or {})},
        text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{kind} server did not start")
        yield Served(process, port, prefix)
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def run(kind: str, stations: int, rate: float, seconds: float) -> dict[str, Any]:
    with serving(kind, stations) as served:
        server, port, prefix = served.process, served.port, served.prefix
        time.sleep(0.5)
        baseline = rss_kib(server.pid)
        load = subprocess.Popen(
            [
                "node",
                str(HERE / "load.mjs"),
                json.dumps(
                    {
                        "url": f"ws://127.0.0.1:{port}/ocpp",
                        "prefix": prefix,
                        "count": stations,
                        "rate": rate,
                        "seconds": seconds,
                        "concurrency": 200,
                        "idleSeconds": 3,
                    }
                ),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert load.stderr is not None and load.stdout is not None
        idle = None
        for line in load.stderr:
            if line.strip() == "IDLE":
                time.sleep(2)
                idle = rss_kib(server.pid)
                break
        result: dict[str, Any] = json.loads(load.stdout.read())
        load.wait(timeout=60)
        connected = max(result["connected"], 1)
        result["kib_per_connection"] = ((idle or baseline) - baseline) / connected
        result["server_rss_mib"] = rss_kib(server.pid) / 1024
        return result


def main() -> None:
    """Run every size against both servers and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, nargs="+", default=[1000, 5000, 10000])
    parser.add_argument("--rate", type=float, default=1000.0, help="messages per second, total")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    if not (CONFORMANCE / "node_modules" / "ocpp-rpc").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CONFORMANCE, check=True)
    raise_fd_limit()
    table = Table(
        title=f"Gateway load: Heartbeat + MeterValues at {args.rate:g} msg/s total, "
        f"{args.seconds:g} s (ocpp-rpc clients in Node)"
    )
    for column in (
        "server",
        "stations",
        "connected",
        "connect/s",
        "msg/s",
        "p50 ms",
        "p99 ms",
        "KiB/idle conn",
        "errors",
    ):
        table.add_column(column, justify="right")
    for stations in args.stations:
        results = {
            kind: run(kind, stations, args.rate, args.seconds) for kind in ("gateway", "reference")
        }
        for kind, r in results.items():
            table.add_row(
                kind,
                str(stations),
                str(r["connected"]),
                f"{r['connectRate']:.0f}",
                f"{r['messagesPerSecond']:.0f}",
                f"{r['p50']:.1f}",
                f"{r['p99']:.1f}",
                f"{r['kib_per_connection']:.1f}",
                str(r["errors"]),
            )
            if r["errors"]:
                console.print(kind, stations, r["errorKinds"])
        g, ref = results["gateway"], results["reference"]
        table.add_row(
            "gateway / reference",
            "",
            "",
            f"{g['connectRate'] / max(ref['connectRate'], 1e-9):.2f}x",
            f"{g['messagesPerSecond'] / max(ref['messagesPerSecond'], 1e-9):.2f}x",
            f"{g['p50'] / ref['p50']:.2f}x",
            f"{g['p99'] / ref['p99']:.2f}x",
            f"{g['kib_per_connection'] / max(ref['kib_per_connection'], 1e-9):.2f}x",
            "",
            end_section=True,
        )
    console.print(table)


if __name__ == "__main__":
    main()
