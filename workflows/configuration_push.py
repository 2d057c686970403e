"""One configuration change pushed to many stations (``config-push:{id}``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.routing import locate, send_command

with workflow.unsafe.imports_passed_through():
    from workflows.commands import ChangeConfiguration, CommandFailure, CommandRequest

MAX_STATIONS = 5000
"""Stations per push: keeps the history (about three events per station) far below
Temporal's 51,200-event limit."""


def push_workflow_id(push_id: str) -> str:
    """Business key of a configuration push."""
    return f"config-push:{push_id}"


@dataclass(frozen=True)
class ConfigurationPush:
    """Set ``change`` on every station of ``station_ids``."""

    push_id: str
    station_ids: list[str]
    change: ChangeConfiguration
    timeout_s: float = 30.0
    # Commands in flight at once (each waits on one charger).
    concurrency: int = 500


@dataclass
class StationOutcome:
    """What one station answered (``status``), or why it could not (``error``)."""

    station_id: str
    status: str | None = None
    error: str | None = None
    reason: str | None = None


@dataclass
class PushProgress:
    """Where a push stands; its final value is the workflow's result."""

    total: int
    answered: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    outcomes: list[StationOutcome] = field(default_factory=list)
    done: bool = False


# Unsandboxed like the other command workflows; it only awaits activities.
@workflow.defn(name="ConfigurationPush", sandboxed=False)
class ConfigurationPushWorkflow:
    """Sends one configuration change to many stations, each through its own node.

    Offline stations are reported, not retried: the push is a snapshot of who
    accepted; the operator repeats it for the rest.
    """

    def __init__(self) -> None:
        self._progress = PushProgress(total=0)
        self._push: ConfigurationPush | None = None

    @workflow.run
    async def run(self, push: ConfigurationPush) -> PushProgress:
        """Locate every station at once, then send the change with bounded concurrency."""
        self._progress = PushProgress(total=len(push.station_ids))
        self._push = push
        self._details(push)
        nodes = await locate(push.station_ids)
        limit = asyncio.Semaphore(push.concurrency)

        async def one(station_id: str) -> None:
            node = nodes.get(station_id)
            outcome = StationOutcome(station_id)
            if node is None:
                outcome.error = CommandFailure.STATION_OFFLINE
                outcome.reason = "no gateway node holds its connection"
            else:
                request = CommandRequest.of(
                    station_id, push.change, f"{push.push_id}-{station_id}", push.timeout_s
                )
                async with limit:
                    try:
                        reply = await send_command(request, node_id=node)
                        outcome.status = reply.status
                    except ApplicationError as error:
                        outcome.error, outcome.reason = error.type, error.message
            self._record(outcome)

        await asyncio.gather(*(one(s) for s in push.station_ids))
        self._progress.done = True
        self._details(push)
        return self._progress

    def _record(self, outcome: StationOutcome) -> None:
        progress = self._progress
        progress.answered += 1
        label = outcome.status or outcome.error or "unknown"
        progress.by_status[label] = progress.by_status.get(label, 0) + 1
        progress.outcomes.append(outcome)
        if self._push is not None:
            self._details(self._push)

    def _details(self, push: ConfigurationPush) -> None:
        progress = self._progress
        counts = ", ".join(f"{k} {v}" for k, v in sorted(progress.by_status.items()))
        workflow.set_current_details(
            f"**{'done' if progress.done else 'pushing'}** {push.change.key} = "
            f"{push.change.value} · {progress.answered}/{progress.total} answered"
            + (f" · {counts}" if counts else "")
        )

    @workflow.query
    def progress(self) -> PushProgress:
        """Answers so far (the whole list once done)."""
        return self._progress
