"""Fault drill: separate processes killed with SIGKILL one by one under load, nothing lost.

Runs the CSMS as separate processes on PostgreSQL (a fresh database on the local
server) and a Temporal dev server: worker, gateway node and API each on its own.
Chargers (OCPP 1.6 over real WebSockets, in this process) run sessions back to
back and behave as OCPP asks of them: a transaction message that got no answer
is sent again, identical, once they are connected again. While they run, the
worker, the gateway and the Temporal server are killed with SIGKILL in turn and
restarted a few seconds later.

Afterwards every session a charger saw acknowledged must have exactly one CDR
with the energy the charger metered (stop register minus start register); the
table says how many did, and prints the first discrepancies if any.

    python tests/benchmarks/fault_run.py --stations 30 --seconds 75

Not part of the test run: it prints a table and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import websockets
from rich.console import Console
from rich.table import Table
from websockets.typing import Subprotocol

from deploy.simulator import id_tag_for, provision, station_ids
from deploy.temporal_dev import dev_server_args, temporal_binary

console = Console()
API_KEY = "fault-run-operator-key"
PG = "postgresql://postgres@127.0.0.1:5432"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Fleet:
    """What the chargers saw acknowledged."""

    sessions: list[tuple[str, int, int, int]] = field(default_factory=list)
    resent: int = 0
    reconnects: int = 0


class Processes:
    """The CSMS's processes, each one killable and restartable."""

    def __init__(self, folder: Path, db: str) -> None:
        self.folder = folder
        self.ports = {n: free_port() for n in ("temporal", "ui", "gateway", "api")}
        self.env = {
            **os.environ,
            "CSMS_DATA_DIR": str(folder / ".csms"),
            "CSMS_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
            "CSMS_TEMPORAL_ADDRESS": f"127.0.0.1:{self.ports['temporal']}",
            "CSMS_GATEWAY_PORT": str(self.ports["gateway"]),
            "CSMS_GATEWAY_HOST": "127.0.0.1",
            "CSMS_API_PORT": str(self.ports["api"]),
            "CSMS_API_HOST": "127.0.0.1",
            "CSMS_API_KEYS": json.dumps({API_KEY: "operator"}),
            "CSMS_ALLOW_UNSECURED_STATIONS": "true",
            "CSMS_LOG_LEVEL": "WARNING",
        }
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.kills: list[str] = []

    def command(self, name: str) -> list[str]:
        if name == "temporal":
            return [
                temporal_binary(),
                *dev_server_args(
                    self.folder / "temporal.db", self.ports["temporal"], self.ports["ui"], "default"
                ),
            ]
        return [str(Path(sys.executable).parent / "csms"), name]

    def start(self, name: str) -> None:
        log = (self.folder / f"{name}.log").open("ab")
        self.running[name] = subprocess.Popen(
            self.command(name), env=self.env, cwd=self.folder, stdout=log, stderr=log
        )

    def kill(self, name: str) -> None:
        self.running[name].send_signal(signal.SIGKILL)
        self.running[name].wait()
        self.kills.append(name)

    def stop_all(self) -> None:
        for name in ("gateway", "api", "worker", "temporal"):
            process = self.running.get(name)
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


async def call(ws: Any, ids: itertools.count[int], action: str, payload: dict[str, Any]) -> Any:
    """One CALL and its CALLRESULT (raises if the connection drops first)."""
    message_id = str(next(ids))
    await ws.send(json.dumps([2, message_id, action, payload]))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if frame[0] == 3 and frame[1] == message_id:
            return frame[2]
        if frame[0] == 4 and frame[1] == message_id:
            raise RuntimeError(f"{action}: {frame[2]} {frame[3]}")
        if frame[0] == 2:  # a command from the CSMS: not expected here, refuse politely
            await ws.send(json.dumps([4, frame[1], "NotImplemented", "", {}]))


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def charger(gateway: str, station: str, fleet: Fleet, until: float) -> None:
    """Sessions back to back; every transaction message is sent until it is answered."""
    ids = itertools.count(1)
    register = 0
    tx: int | None = None
    meter_start = 0
    ws: Any = None

    async def connected() -> Any:
        while True:
            try:
                conn = await websockets.connect(
                    f"{gateway}/{station}",
                    subprotocols=[Subprotocol("ocpp1.6")],
                    open_timeout=5,
                )
                boot = {"chargePointVendor": "Fault", "chargePointModel": "Drill"}
                await call(conn, ids, "BootNotification", boot)
                return conn
            except Exception:
                await asyncio.sleep(0.5)

    async def send(action: str, payload: dict[str, Any]) -> Any:
        nonlocal ws
        while True:
            try:
                if ws is None:
                    ws = await connected()
                    fleet.reconnects += 1
                return await call(ws, ids, action, payload)
            except Exception:
                ws = None
                fleet.resent += 1
                await asyncio.sleep(0.2)

    tag = id_tag_for(station)
    while time.monotonic() < until or tx is not None:
        if tx is None:
            meter_start = register
            started = await send(
                "StartTransaction",
                {"connectorId": 1, "idTag": tag, "meterStart": register, "timestamp": now()},
            )
            tx = int(started["transactionId"])
            continue
        for _ in range(2):
            register += 250
            await send(
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": tx,
                    "meterValue": [
                        {
                            "timestamp": now(),
                            "sampledValue": [
                                {
                                    "value": str(register),
                                    "measurand": "Energy.Active.Import.Register",
                                }
                            ],
                        }
                    ],
                },
            )
        register += 100
        stop = {"transactionId": tx, "meterStop": register, "timestamp": now(), "idTag": tag}
        await send("StopTransaction", stop)
        fleet.sessions.append((station, tx, meter_start, register))
        tx = None
        await asyncio.sleep(0.1)
    if ws is not None:
        await ws.close()


async def wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(url, timeout=2)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer")
            await asyncio.sleep(0.5)


def check(db: str, fleet: Fleet) -> tuple[int, int, list[str], int]:
    """Sessions with exactly one right CDR, CDRs in all, discrepancies, open items."""
    with psycopg.connect(f"{PG}/{db}") as conn:
        rows = conn.execute(
            "SELECT t.station_id, t.id, c.energy_wh FROM charge_detail_records c "
            "JOIN transactions t ON t.id = c.transaction_pk"
        ).fetchall()
        items = conn.execute("SELECT count(*) FROM reconciliation_inbox").fetchone()
    cdrs: dict[tuple[str, int], list[float]] = {}
    for station, tx, energy in rows:
        cdrs.setdefault((station, tx), []).append(float(energy))
    right, wrong = 0, []
    for station, tx, start, stop in fleet.sessions:
        found = cdrs.get((station, tx), [])
        if len(found) == 1 and found[0] == stop - start:
            right += 1
        else:
            wrong.append(f"{station} tx {tx}: expected {stop - start} Wh, CDRs {found}")
    return right, len(rows), wrong, int(items[0]) if items else 0


async def drive(args: argparse.Namespace, procs: Processes, db: str) -> None:
    gateway = f"ws://127.0.0.1:{procs.ports['gateway']}"
    api = f"http://127.0.0.1:{procs.ports['api']}"
    await wait_http(f"{api}/health")
    stations = station_ids(args.stations, prefix=f"F{int(time.time()) % 100000}")
    await provision(api, API_KEY, stations, site_id="fault-depot")
    fleet = Fleet()
    began = time.monotonic()
    until = began + args.seconds
    load = asyncio.gather(*(charger(gateway, s, fleet, until) for s in stations))
    step = args.seconds / 5
    for n, name in enumerate(("worker", "gateway", "temporal"), start=1):
        await asyncio.sleep(max(0.0, began + n * step - time.monotonic()))
        console.print(f"t={time.monotonic() - began:4.0f} s: SIGKILL {name}")
        procs.kill(name)
        await asyncio.sleep(args.down_s)
        procs.start(name)
    await load
    sent = time.monotonic()
    while True:
        right, total, wrong, items = check(db, fleet)
        if right == len(fleet.sessions) or time.monotonic() - sent > 300:
            break
        await asyncio.sleep(2)
    table = Table(title=f"Fault drill: {args.stations} chargers, {args.seconds:.0f} s, PostgreSQL")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("processes killed (SIGKILL), in order", ", ".join(procs.kills))
    table.add_row("each down for", f"{args.down_s:g} s")
    table.add_row("sessions acknowledged to the chargers", str(len(fleet.sessions)))
    table.add_row("with exactly one CDR of the metered energy", str(right))
    table.add_row("CDRs in the database", str(total))
    table.add_row("messages sent again after a lost answer", str(fleet.resent))
    table.add_row("connections opened (first ones included)", str(fleet.reconnects))
    table.add_row("reconciliation items", str(items))
    table.add_row("settled within (after the load)", f"{time.monotonic() - sent:.0f} s")
    console.print(table)
    for line in wrong[:10]:
        console.print(f"[red]{line}[/red]")


def main() -> None:
    """Create the database, start the processes, run the drill, clean up."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stations", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=75)
    parser.add_argument("--down-s", type=float, default=4)
    args = parser.parse_args()
    db = f"csms_fault_{int(time.time())}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    folder = Path(tempfile.mkdtemp(prefix="csms-fault-"))
    procs = Processes(folder, db)
    try:
        procs.start("temporal")
        subprocess.run(
            [str(Path(sys.executable).parent / "csms"), "migrate"],
            env=procs.env,
            cwd=folder,
            check=True,
            capture_output=True,
        )
        for name in ("worker", "gateway", "api"):
            procs.start(name)
        asyncio.run(drive(args, procs, db))
    finally:
        procs.stop_all()
        console.print(f"logs in {folder}; database {db}")


if __name__ == "__main__":
    main()
