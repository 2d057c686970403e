"""One configuration change pushed to many stations (``config-push:{id}``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.command_routing import locate, send_batch, send_command

with workflow.unsafe.imports_passed_through():
    from workflows.commands import (
        ChangeConfiguration,
        CommandFailure,
        CommandOutcome,
        CommandRequest,
    )

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
    # Stations per activity: one batch's answers must stay well under Temporal's
    # 2 MB payload limit.
    batch_size: int = 250


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

    Stations are grouped by the node holding them and sent in batches, one
    activity per batch (a fan-out to 1,000 stations is a handful of activities,
    not a thousand). Offline stations are reported, not retried: the push is a
    snapshot of who accepted; the operator repeats it for the rest.
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
        by_node: dict[str, list[CommandRequest]] = {}
        for station_id in push.station_ids:
            node = nodes.get(station_id)
            if node is None:
                self._record(
                    StationOutcome(
                        station_id,
                        error=CommandFailure.STATION_OFFLINE,
                        reason="no gateway node holds its connection",
                    )
                )
                continue
            by_node.setdefault(node, []).append(
                CommandRequest.of(
                    station_id, push.change, f"{push.push_id}-{station_id}", push.timeout_s
                )
            )

        async def batch(node: str, requests: list[CommandRequest]) -> None:
            for outcome in await send_batch(requests, node):
                if outcome.error == CommandFailure.MOVED:
                    # It reconnected elsewhere since the lookup: follow it.
                    outcome = await self._one(push, outcome.station_id)
                self._record(self._station_outcome(outcome))

        size = push.batch_size
        await asyncio.gather(
            *(
                batch(node, requests[i : i + size])
                for node, requests in by_node.items()
                for i in range(0, len(requests), size)
            )
        )
        self._progress.done = True
        self._details(push)
        return self._progress

    @staticmethod
    def _station_outcome(outcome: CommandOutcome) -> StationOutcome:
        status = outcome.reply.status if outcome.reply is not None else None
        return StationOutcome(outcome.station_id, status, outcome.error, outcome.reason)

    async def _one(self, push: ConfigurationPush, station_id: str) -> CommandOutcome:
        request = CommandRequest.of(
            station_id, push.change, f"{push.push_id}-{station_id}-moved", push.timeout_s
        )
        try:
            return CommandOutcome(station_id, reply=await send_command(request))
        except ApplicationError as error:
            return CommandOutcome(station_id, error=error.type, reason=error.message)

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
