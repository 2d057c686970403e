"""Sending a charger command from any workflow: find the node, run the activity there.

The registry names the gateway node holding the socket; the command runs as an
activity on that node's task queue with a short schedule-to-start timeout. If
the node does not pick it up in time (it crashed and its registry rows are
stale) or the station moved meanwhile, the node is looked up again.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutType
from temporalio.exceptions import TimeoutError as TemporalTimeout

with workflow.unsafe.imports_passed_through():
    from activities.station_locator import RoutingActivities
    from workflows.commands import (
        CommandFailure,
        CommandOutcome,
        CommandReply,
        CommandRequest,
        gateway_task_queue,
    )

PICKUP = timedelta(seconds=2)
"""How long a gateway node may take to pick a command up before it is deemed gone."""
ATTEMPTS = 3
"""Deliveries tried (the station may move between nodes meanwhile)."""
LOOKUP_TIMEOUT = timedelta(seconds=5)


async def locate(station_ids: list[str]) -> dict[str, str]:
    """Node of each connected station, from the registry (a local activity)."""
    return await workflow.execute_local_activity_method(
        RoutingActivities.locate_stations,
        station_ids,
        start_to_close_timeout=LOOKUP_TIMEOUT,
        retry_policy=RetryPolicy(maximum_attempts=3),
    )


def offline(station_id: str, why: str = "no gateway node holds its connection") -> ApplicationError:
    """The typed, non-retryable failure of a command to an unreachable station."""
    return ApplicationError(
        f"station {station_id} is offline: {why}",
        type=CommandFailure.STATION_OFFLINE,
        non_retryable=True,
    )


async def send_batch(
    requests: list[CommandRequest], node_id: str, *, pickup: timedelta = timedelta(seconds=30)
) -> list[CommandOutcome]:
    """Deliver many commands held by one node in one activity; an outcome per station.

    Stations that left the node meanwhile come back as ``StationMoved``; a node
    that does not pick the batch up within ``pickup`` makes every one offline.
    """
    try:
        return await workflow.execute_activity(
            "station_commands",
            requests,
            result_type=list[CommandOutcome],
            task_queue=gateway_task_queue(node_id),
            schedule_to_start_timeout=pickup,
            start_to_close_timeout=timedelta(seconds=max(r.timeout_s for r in requests) + 10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
    except ActivityError as error:
        reason = f"its gateway node {node_id} failed the batch: {error.cause or error}"
        return [
            CommandOutcome(r.station_id, error=CommandFailure.STATION_OFFLINE, reason=reason)
            for r in requests
        ]


async def send_command(
    request: CommandRequest, node_id: str | None = None, *, pickup: timedelta = PICKUP
) -> CommandReply:
    """Deliver ``request`` to the station through the node holding it.

    ``node_id`` skips the first lookup when the caller already resolved it (a
    fan-out resolves all its stations at once). ``pickup`` is how long the node may
    take to pick the command up before it counts as gone: short for an operator
    waiting on a button, longer where a busy node is no reason to give up. Raises
    ``ApplicationError`` with a :class:`CommandFailure` type.
    """
    silent: str | None = None
    for attempt in range(ATTEMPTS):
        if node_id is None or attempt > 0:
            node_id = (await locate([request.station_id])).get(request.station_id)
        if node_id is None:
            raise offline(request.station_id)
        if node_id == silent:
            # Still registered to the node that did not pick the command up: that
            # node is gone (its rows are stale until it restarts).
            raise offline(request.station_id, f"its gateway node {node_id} does not respond")
        try:
            return await workflow.execute_activity(
                "station_command",
                request,
                result_type=CommandReply,
                task_queue=gateway_task_queue(node_id),
                schedule_to_start_timeout=pickup,
                start_to_close_timeout=timedelta(seconds=request.timeout_s + 5),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, TemporalTimeout) and cause.type == TimeoutType.SCHEDULE_TO_START:
                workflow.logger.info("node %s did not pick up %s", node_id, request.command)
                silent = node_id
                continue
            if isinstance(cause, ApplicationError):
                if cause.type == CommandFailure.MOVED:
                    continue
                raise ApplicationError(
                    cause.message, *cause.details, type=cause.type, non_retryable=True
                ) from None
            raise
    raise offline(request.station_id, "it keeps moving between gateway nodes")
