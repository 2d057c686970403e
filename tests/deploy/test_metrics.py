"""Every process can be scraped: the gateway's, the worker's and the API's /metrics are
read and parsed with prometheus-client's own parser, and their counters move with
traffic; /health and /ready answer for each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from deploy.stack import Stack
from deploy.temporal_dev import metrics_runtime, wait_for_temporal
from tests.conftest import unique
from tests.deploy.conftest import api_client, stack_settings
from tests.deploy.live_stations import booted_station
from tests.helpers import free_port

SDK_PORT = free_port()


@pytest.fixture
async def stack(temporal_dev: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Stack]:
    """A node whose worker's client exports the SDK's metrics (as ``csms worker`` does)."""
    settings = stack_settings(temporal_dev, tmp_path, worker_sdk_metrics_port=SDK_PORT)
    client = await wait_for_temporal(
        settings.temporal_address,
        settings.temporal_namespace,
        runtime=metrics_runtime("127.0.0.1", SDK_PORT),
    )
    running = Stack(settings)
    await running.start(client)
    yield running
    await running.stop()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape by name and labels (the parser fails on bad output)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_every_process_is_scraped_and_counts_its_traffic(stack: Stack) -> None:
    assert stack.gateway is not None and stack.worker_probes is not None
    gateway_url = f"http://127.0.0.1:{stack.gateway.metrics_port}"
    worker_url = f"http://127.0.0.1:{stack.worker_probes.port}"
    async with httpx.AsyncClient(timeout=10) as plain, api_client(stack) as api:
        for base in (gateway_url, worker_url):
            assert (await plain.get(f"{base}/health")).json() == {"status": "alive"}
            ready = await plain.get(f"{base}/ready")
            assert ready.status_code == 200, ready.text
            assert set(ready.json()["checks"]) >= {"database", "temporal"}
            assert (await plain.post(f"{base}/metrics")).status_code == 405
            assert (await plain.get(f"{base}/other")).status_code == 404
        before = samples((await plain.get(f"{gateway_url}/metrics")).text)
        station_id = unique("MET")
        station = await booted_station(stack, station_id, "ocpp1.6")
        try:
            for _ in range(3):
                await station.call("Heartbeat", {})
            reply = await api.post(
                f"/stations/{station_id}/commands/trigger-message",
                json={"message": "StatusNotification"},
            )
            assert reply.status_code == 200, reply.text
            during = samples((await plain.get(f"{gateway_url}/metrics")).text)
            assert value(during, "csms_gateway_connections") == 1
        finally:
            await station.close()
        after = samples((await plain.get(f"{gateway_url}/metrics")).text)
        heartbeat = {"direction": "in", "action": "Heartbeat", "result": "ok"}
        assert (
            value(after, "csms_gateway_messages_total", **heartbeat)
            - value(before, "csms_gateway_messages_total", **heartbeat)
            == 3
        )
        trigger = {"direction": "out", "action": "TriggerMessage", "result": "ok"}
        assert value(after, "csms_gateway_messages_total", **trigger) == 1
        assert value(after, "csms_gateway_round_trip_seconds_count", action="TriggerMessage") == 1
        assert value(after, "csms_gateway_handling_seconds_count", action="Heartbeat") >= 3
        assert value(after, "csms_gateway_liveness_transitions_total", state="online") >= 1
        assert ("csms_gateway_outbox_depth", ()) in after
        api_scrape = samples((await api.get("/metrics")).text)
        route = {"method": "POST", "route": "/stations/{station_id}/commands/trigger-message"}
        assert value(api_scrape, "csms_api_requests_total", status="200", **route) >= 1
        assert not any(station_id in str(key) for key in api_scrape), "no ids in labels"
        worker = samples((await plain.get(f"{worker_url}/metrics")).text)
        assert value(worker, "csms_worker_workflow_types") > 0
        sdk = samples((await plain.get(f"http://127.0.0.1:{SDK_PORT}/metrics")).text)
        assert any(name.startswith("temporal_") for name, _ in sdk)
