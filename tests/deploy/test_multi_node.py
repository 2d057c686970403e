"""Two gateway nodes as separate processes, one worker, one Temporal, one database.

Node A is ``csms up --external-temporal`` (gateway + API, and the worker it
spawns); node B is ``csms gateway``. A command issued through node A's API
reaches a station connected to node B and follows the station when it moves
to node A; a node killed with SIGKILL leaves stale registry rows, and a
command to a station it held fails fast as StationOffline instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from activities.persistence.migrate import upgrade_async
from deploy.processes import spawn, terminate
from tests.conftest import unique
from tests.deploy.conftest import eventually
from tests.gateway.conformance.station import StrictStation
from tests.helpers import free_port

CSMS = str(Path(sys.executable).parent / "csms")
KEY = "multi-node-key"


@dataclass
class Cluster:
    """The running processes and where to reach them."""

    api: httpx.AsyncClient
    ports: dict[str, int]
    node_b: asyncio.subprocess.Process
    logs: Path

    def gateway(self, node: str) -> str:
        """The OCPP endpoint of ``node`` ("a" or "b")."""
        return f"ws://127.0.0.1:{self.ports[node]}/ocpp"

    def output(self) -> str:
        """Both nodes' logs, for failure messages."""
        return "\n".join(p.read_text() for p in sorted(self.logs.glob("*.log")))


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


@pytest.fixture
async def cluster(temporal_dev: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Cluster]:
    """Node A (gateway + API + spawned worker) and node B (gateway), as processes."""
    db_url = f"sqlite:///{tmp_path / 'csms.db'}"
    await upgrade_async(db_url)
    ports = {"a": free_port(), "b": free_port(), "api": free_port()}
    common = {
        "CSMS_DATABASE_URL": db_url,
        "CSMS_ALLOW_UNSECURED_STATIONS": "true",
        "CSMS_DATA_DIR": str(tmp_path),
        "CSMS_TEMPORAL_ADDRESS": temporal_dev.client.service_client.config.target_host,
        "CSMS_TASK_QUEUE": unique("csms"),
        "CSMS_API_KEYS": json.dumps({KEY: "operator"}),
        "CSMS_GATEWAY_HOST": "127.0.0.1",
        "CSMS_API_HOST": "127.0.0.1",
        "CSMS_API_PORT": str(ports["api"]),
        "COLUMNS": "200",
        # The worker's probes and SDK metrics (node A only runs one).
        "CSMS_WORKER_METRICS_PORT": str(free_port()),
        "CSMS_WORKER_SDK_METRICS_PORT": str(free_port()),
    }
    node_a = await spawn(
        [CSMS, "up", "--external-temporal"],
        log_file=tmp_path / "node-a.log",
        env={
            **common,
            "CSMS_NODE_ID": "node-a",
            "CSMS_GATEWAY_PORT": str(ports["a"]),
            "CSMS_GATEWAY_METRICS_PORT": str(free_port()),
        },
    )
    node_b = await spawn(
        [CSMS, "gateway"],
        log_file=tmp_path / "node-b.log",
        env={
            **common,
            "CSMS_NODE_ID": "node-b",
            "CSMS_GATEWAY_PORT": str(ports["b"]),
            "CSMS_GATEWAY_METRICS_PORT": str(free_port()),
        },
    )
    api = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{ports['api']}", headers={"X-API-Key": KEY}, timeout=30
    )
    running = Cluster(api, ports, node_b, tmp_path)
    try:
        for port in ports.values():
            await eventually(lambda port=port: _listening(port), timeout=60)  # type: ignore[misc]
        yield running
    finally:
        await api.aclose()
        # SIGINT: the clean Ctrl-C path of `csms up` (it stops its worker too).
        if node_a.returncode is None:
            node_a.send_signal(signal.SIGINT)
        await terminate(node_a, 30)
        await terminate(node_b, 30)
        assert node_a.returncode is not None


async def _held_by(cluster: Cluster, station_id: str, node: str | None) -> bool:
    detail = (await cluster.api.get(f"/stations/{station_id}")).json()
    return bool(detail.get("gateway_node") == node)


async def _command(cluster: Cluster, station_id: str, command: str, body: Any) -> httpx.Response:
    return await cluster.api.post(f"/stations/{station_id}/commands/{command}", json=body)


async def test_command_follows_the_station_across_nodes(cluster: Cluster) -> None:
    """Issued next to node A, delivered by node B; after the move, delivered by node A."""
    created = await cluster.api.post("/stations", json={"id": "MN-1", "security_profile": 0})
    assert created.status_code == 201, created.text

    on_b = await StrictStation.connect(cluster.gateway("b"), "MN-1", "ocpp1.6")
    try:
        await eventually(lambda: _held_by(cluster, "MN-1", "node-b"))
        response = await _command(cluster, "MN-1", "trigger-message", {"message": "Heartbeat"})
        assert response.status_code == 200, response.text + cluster.output()
        assert response.json()["node_id"] == "node-b"
        assert await on_b.next_command("TriggerMessage") == {"requestedMessage": "Heartbeat"}
    finally:
        await on_b.close()

    on_a = await StrictStation.connect(cluster.gateway("a"), "MN-1", "ocpp1.6")
    try:
        await eventually(lambda: _held_by(cluster, "MN-1", "node-a"))
        response = await _command(cluster, "MN-1", "reset", {"kind": "soft"})
        assert response.status_code == 200, response.text
        assert response.json()["node_id"] == "node-a"
        assert await on_a.next_command("Reset") == {"type": "Soft"}
        assert on_a.failures == [] and on_b.failures == []
    finally:
        await on_a.close()


async def test_crashed_node_gives_station_offline_not_a_hang(cluster: Cluster) -> None:
    """SIGKILL node B: its registry rows stay, the command still ends in a fast 409."""
    assert (
        await cluster.api.post("/stations", json={"id": "MN-2", "security_profile": 0})
    ).status_code == 201
    station = await StrictStation.connect(cluster.gateway("b"), "MN-2", "ocpp2.0.1")
    await eventually(lambda: _held_by(cluster, "MN-2", "node-b"))
    # Warm up node B's command worker (it polls once Temporal is reachable).
    warm = await _command(cluster, "MN-2", "clear-cache", None)
    assert warm.status_code == 200, warm.text + cluster.output()
    os.kill(cluster.node_b.pid, signal.SIGKILL)
    await cluster.node_b.wait()
    await station.close()
    assert await _held_by(cluster, "MN-2", "node-b"), "a killed node cannot clean up"

    began = time.monotonic()
    response = await _command(cluster, "MN-2", "clear-cache", None)
    elapsed = time.monotonic() - began
    assert response.status_code == 409, response.text
    assert "node-b does not respond" in response.json()["detail"]["reason"]
    assert elapsed < 5, f"took {elapsed:.1f} s"

    # The station reconnects to node A; the registry row is replaced and commands flow.
    again = await StrictStation.connect(cluster.gateway("a"), "MN-2", "ocpp2.0.1")
    try:
        await eventually(lambda: _held_by(cluster, "MN-2", "node-a"))
        response = await _command(cluster, "MN-2", "clear-cache", None)
        assert response.status_code == 200, response.text
        assert response.json()["node_id"] == "node-a"
    finally:
        await again.close()
