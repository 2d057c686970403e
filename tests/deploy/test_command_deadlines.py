"""A command while the worker is down: a bounded wait, a 504, and never a late action."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from api import commands as api_commands
from deploy.stack import Stack
from deploy.worker import build_worker
from tests.conftest import unique
from tests.deploy.conftest import api_client, stack_settings
from tests.deploy.live_stations import booted_station


async def test_a_command_no_worker_takes_is_a_504_and_is_never_sent_later(
    temporal_dev: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_commands, "DISPATCH_S", 1.0)
    settings = stack_settings(temporal_dev, tmp_path)
    stack = Stack(settings, worker=False)  # gateway and API only: no worker
    await stack.start(temporal_dev.client)
    station_id = unique("NOWRK")
    try:
        station = await booted_station(stack, station_id, "ocpp1.6")
        async with api_client(stack) as http:
            began = time.monotonic()
            reply = await http.post(
                f"/stations/{station_id}/commands/clear-cache", params={"timeout_s": 1}
            )
            waited = time.monotonic() - began
        assert reply.status_code == 504, reply.text
        assert reply.json()["detail"]["error"] == "CommandExpired"
        assert waited < 6, waited
        # The worker comes back: the command's workflow runs, and refuses to send.
        workflows = [
            w
            async for w in temporal_dev.client.list_workflows(
                f"WorkflowType = 'StationCommand' AND CsmsStationId = '{station_id}'"
            )
        ]
        assert len(workflows) == 1
        async with build_worker(temporal_dev.client, stack.db, settings.task_queue):
            with pytest.raises(WorkflowFailureError) as failed:
                await temporal_dev.client.get_workflow_handle(workflows[0].id).result()
        assert getattr(failed.value.cause, "type", None) == "CommandExpired"
        with pytest.raises(TimeoutError):
            await station.next_command("ClearCache", timeout=1.0)
        await station.close()
    finally:
        await stack.stop()
