"""Records workflow histories, one per workflow type and path, for the replay test.

A "path" is the sequence of commands a workflow issued and of the signals and
updates it took (activity, local activity and patch markers by name, timers,
child workflows, external signals, search-attribute upserts, how it closed):
two runs with the same sequence exercised the same code, so one of them is kept.

    CSMS_RECORD_HISTORIES=1 .venv/bin/pytest tests/deploy tests/workflows

writes ``tests/workflows/histories/recorded/<Type>-<path hash>.json`` for every
workflow the test servers ran; existing files are kept (a history recorded by an
older version is exactly what the replay test is for).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

FOLDER = Path(__file__).parent / "histories" / "recorded"
ENV = "CSMS_RECORD_HISTORIES"

_COMMAND_EVENTS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
}


def path_of(history: WorkflowHistory) -> list[str]:
    """The commands and inputs of a history that decide which code ran."""
    steps: list[str] = []
    for event in history.events:
        if event.event_type not in _COMMAND_EVENTS:
            continue
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        if event.HasField("activity_task_scheduled_event_attributes"):
            name += ":" + event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.HasField("marker_recorded_event_attributes"):
            marker = event.marker_recorded_event_attributes
            name += ":" + marker.marker_name
            for key in ("data", "patch_data"):  # local activity, patch
                if key in marker.details and marker.details[key].payloads:
                    data: dict[str, Any] = json.loads(marker.details[key].payloads[0].data)
                    name += ":" + str(data.get("activity_type") or data.get("id"))
        elif event.HasField("workflow_execution_signaled_event_attributes"):
            name += ":" + event.workflow_execution_signaled_event_attributes.signal_name
        elif event.HasField("workflow_execution_update_accepted_event_attributes"):
            accepted = event.workflow_execution_update_accepted_event_attributes
            name += ":" + accepted.accepted_request.input.name
        if not steps or steps[-1] != name:  # a run of the same step is one step
            steps.append(name)
    return steps


async def record_all(client: Client, folder: Path = FOLDER, per_type: int = 12) -> list[Path]:
    """Write a history per workflow type and path among the server's workflows."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    written: list[Path] = []
    kept: dict[str, int] = {}
    async for execution in client.list_workflows():
        history = await client.get_workflow_handle(
            execution.id, run_id=execution.run_id
        ).fetch_history()
        signature = json.dumps(path_of(history))
        digest = hashlib.sha256(signature.encode()).hexdigest()[:10]
        target = folder / f"{execution.workflow_type}-{digest}.json"
        if target.exists() or kept.get(execution.workflow_type, 0) >= per_type:
            continue
        await asyncio.to_thread(target.write_text, history.to_json())
        kept[execution.workflow_type] = kept.get(execution.workflow_type, 0) + 1
        written.append(target)
    return written


async def keep(handle: Any, folder: Path = FOLDER) -> Path | None:
    """Record one workflow's history (for tests on the time-skipping server, which
    cannot list its workflows); only with ``CSMS_RECORD_HISTORIES`` set."""
    import os

    if not os.environ.get(ENV):
        return None
    history = await handle.fetch_history()
    digest = hashlib.sha256(json.dumps(path_of(history)).encode()).hexdigest()[:10]
    kind = history.events[0].workflow_execution_started_event_attributes.workflow_type.name
    target = folder / f"{kind}-{digest}.json"
    if not target.exists():
        await asyncio.to_thread(target.write_text, history.to_json())
    return target
