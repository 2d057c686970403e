"""The README's first command for real: ``csms up`` as a process, ``csms simulate`` against it,
Ctrl-C stops everything cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.helpers import free_port

CSMS = str(Path(sys.executable).parent / "csms")


def test_csms_up_then_simulate_then_ctrl_c(tmp_path: Path) -> None:
    names = ("temporal", "ui", "gateway", "api", "gateway_metrics", "worker_metrics", "sdk_metrics")
    ports = {name: free_port() for name in names}
    env = {
        **os.environ,
        "CSMS_DATA_DIR": str(tmp_path / ".csms"),
        "CSMS_TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "CSMS_TEMPORAL_UI_PORT": str(ports["ui"]),
        "CSMS_GATEWAY_PORT": str(ports["gateway"]),
        "CSMS_API_PORT": str(ports["api"]),
        "CSMS_GATEWAY_METRICS_PORT": str(ports["gateway_metrics"]),
        "CSMS_WORKER_METRICS_PORT": str(ports["worker_metrics"]),
        "CSMS_WORKER_SDK_METRICS_PORT": str(ports["sdk_metrics"]),
        "COLUMNS": "200",
    }
    env.pop("CSMS_DATABASE_URL", None)
    env.pop("CSMS_API_KEYS", None)
    log = (tmp_path / "up.log").open("w+")
    up = subprocess.Popen([CSMS, "up"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while "CSMS is up" not in (tmp_path / "up.log").read_text():
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            time.sleep(0.3)
        key = (tmp_path / ".csms" / "dev-api-key").read_text().strip()
        printed = (tmp_path / "up.log").read_text()
        assert key not in printed, "a key never reaches the console"
        assert "dev-api-key" in printed, "where the key is kept is printed"
        simulate = subprocess.run(
            [
                CSMS,
                "simulate",
                "--stations",
                "3",
                "--ocpp-version",
                "mixed",
                "--sessions",
                "1",
                "--meter-interval",
                "0.1",
                "--gateway-url",
                f"ws://127.0.0.1:{ports['gateway']}",
                "--api-url",
                f"http://127.0.0.1:{ports['api']}",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert simulate.returncode == 0, simulate.stdout + simulate.stderr
        assert "completed 3" in simulate.stdout
        api = httpx.Client(base_url=f"http://127.0.0.1:{ports['api']}", headers={"X-API-Key": key})
        deadline = time.monotonic() + 30
        while len(cdrs := api.get("/cdrs").json()) < 3:
            assert time.monotonic() < deadline, cdrs
            time.sleep(0.3)
        assert {c["station_id"] for c in cdrs} == {"SIM-0001", "SIM-0002", "SIM-0003"}
        assert {c["ocpp_version"] for c in cdrs} == {"1.6", "2.0.1", "2.1"}
        assert all(c["energy_wh"] == 4 * 917 for c in cdrs)
        assert api.get("/ready").json() == {"database": "ok", "temporal": "ok"}
        # Every process can be scraped: gateway, worker (its own and the SDK's), API.
        for port in (ports["gateway_metrics"], ports["worker_metrics"]):
            assert httpx.get(f"http://127.0.0.1:{port}/ready", timeout=10).status_code == 200
        sdk = httpx.get(f"http://127.0.0.1:{ports['sdk_metrics']}/metrics", timeout=10).text
        assert "temporal_" in sdk
        gateway_metrics = httpx.get(f"http://127.0.0.1:{ports['gateway_metrics']}/metrics").text
        assert (
            'csms_gateway_messages_total{action="BootNotification",direction="in",result="ok"} 3.0'
            in gateway_metrics
        )
        assert "csms_api_requests_total" in api.get("/metrics").text
        assert httpx.get(f"http://127.0.0.1:{ports['ui']}/", timeout=10).status_code == 200
        assert (tmp_path / ".csms" / "temporal.db").exists()
    finally:
        up.send_signal(signal.SIGINT)
        try:
            code = up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
            raise
    output = (tmp_path / "up.log").read_text()
    assert code == 0, output
    assert "stopped cleanly" in output
    with socket.socket() as s:  # the dev server went down with it
        assert s.connect_ex(("127.0.0.1", ports["temporal"])) != 0


def test_migrate_masks_the_database_password(tmp_path: Path, postgres_url: str | None) -> None:
    """``csms migrate`` names the database it migrated without its password."""
    if postgres_url is None:
        pytest.skip("needs CSMS_TEST_DATABASE_URL (PostgreSQL; trust auth takes any password)")
    url = make_url(postgres_url).set(password="hunter2-secret")
    env = {
        **os.environ,
        "CSMS_DATABASE_URL": url.render_as_string(hide_password=False),
        "COLUMNS": "300",
    }
    done = subprocess.run(
        [CSMS, "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "up to date" in done.stdout and "***" in done.stdout
    assert "hunter2-secret" not in done.stdout + done.stderr
