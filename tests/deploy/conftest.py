"""The whole stack in-process (what ``csms up`` runs) against a real Temporal dev server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from deploy.settings import Settings
from deploy.stack import Stack
from tests.conftest import unique

API_KEY = "test-operator-key"
T = TypeVar("T")


def stack_settings(env: WorkflowEnvironment, data_dir: Path, **overrides: Any) -> Settings:
    """Settings of an isolated stack: own database, task queue, node id, free ports."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": f"sqlite:///{data_dir / 'csms.db'}",
        "temporal_address": env.client.service_client.config.target_host,
        "task_queue": unique("csms"),
        "node_id": unique("gw"),
        "gateway_host": "127.0.0.1",
        "gateway_port": 0,
        "api_host": "127.0.0.1",
        "api_port": 0,
        "gateway_metrics_port": 0,
        "worker_metrics_port": 0,
        "worker_sdk_metrics_port": None,
        # The command tests check every frame a station receives: the health
        # workflow's own SetVariableMonitoring would come between.
        "health_monitors": False,
        "api_keys": {API_KEY: "operator"},
        # The test chargers mostly connect without credentials (profile 0).
        "allow_unsecured_stations": True,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def stack(temporal_dev: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Stack]:
    """Worker, gateway and API of one node, started."""
    running = Stack(stack_settings(temporal_dev, tmp_path))
    await running.start(temporal_dev.client)
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def module_stack(
    temporal_dev: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """One node (worker, gateway, API) shared by a whole test module."""
    running = Stack(stack_settings(temporal_dev, Path(tmp_path_factory.mktemp("module"))))
    await running.start(temporal_dev.client)
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def module_http(module_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The module stack's API."""
    async with api_client(module_stack) as client:
        yield client


def api_client(stack: Stack) -> httpx.AsyncClient:
    """An HTTP client for the stack's API."""
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{stack.api_port}", headers={"X-API-Key": API_KEY}, timeout=10
    )


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 20.0) -> T:
    """Poll ``probe`` until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.1)
