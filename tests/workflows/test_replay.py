"""Every recorded history replays against today's workflow code.

``histories/recorded/`` holds one history per workflow type and path, recorded by
earlier versions of the code (see :mod:`tests.workflows.history_recorder`); a
change that would break a running workflow on deployment fails here first.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from deploy.worker import WORKFLOWS, workflow_runner

HISTORIES = sorted((Path(__file__).parent / "histories").rglob("*.json"))


def test_every_workflow_type_has_recorded_histories() -> None:
    recorded = {p.name.split("-")[0] for p in HISTORIES if p.parent.name == "recorded"}
    missing = {w.__temporal_workflow_definition.name for w in WORKFLOWS} - recorded  # type: ignore[attr-defined]
    assert not missing, f"record histories of {missing} (CSMS_RECORD_HISTORIES=1)"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=workflow_runner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
