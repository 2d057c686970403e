"""Running charger commands through Temporal on the API's behalf, with HTTP error mapping."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import HTTPException, status
from temporalio.client import WorkflowFailureError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError

from workflows import search_attributes as sa
from workflows.client import TemporalLink
from workflows.commands import CommandFailure, CommandReply, CommandRequest, command_workflow_id
from workflows.station_command import StationCommandWorkflow

HTTP_STATUS = {
    CommandFailure.STATION_OFFLINE: status.HTTP_409_CONFLICT,
    CommandFailure.TIMEOUT: status.HTTP_504_GATEWAY_TIMEOUT,
    CommandFailure.CHARGER_ERROR: status.HTTP_502_BAD_GATEWAY,
    CommandFailure.NOT_SUPPORTED: status.HTTP_422_UNPROCESSABLE_CONTENT,
    CommandFailure.INVALID: status.HTTP_422_UNPROCESSABLE_CONTENT,
}


def command_error(error: BaseException) -> HTTPException:
    """The HTTP answer to a failed command workflow: status by failure type, with the reason."""
    cause = error.cause if isinstance(error, WorkflowFailureError) else error
    if isinstance(cause, ApplicationError) and cause.type in HTTP_STATUS:
        detail: dict[str, Any] = {"error": cause.type, "reason": cause.message}
        if cause.details and isinstance(cause.details[0], dict):
            detail.update(cause.details[0])
        return HTTPException(HTTP_STATUS[cause.type], detail)
    return HTTPException(status.HTTP_502_BAD_GATEWAY, f"command failed: {cause}")


async def temporal_client(temporal: TemporalLink) -> Any:
    """The Temporal client, or 503 while Temporal is unreachable."""
    try:
        return await temporal.client()
    except Exception as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"Temporal is unreachable: {exc}"
        ) from None


async def run_command(
    temporal: TemporalLink,
    task_queue: str,
    station_id: str,
    command: Any,
    *,
    timeout_s: float = 30.0,
) -> CommandReply:
    """Send ``command`` to the station through a ``StationCommand`` workflow; its answer."""
    client = await temporal_client(temporal)
    request = CommandRequest.of(station_id, command, uuid.uuid4().hex, timeout_s)
    try:
        reply: CommandReply = await client.execute_workflow(
            StationCommandWorkflow.run,
            request,
            id=command_workflow_id(station_id, request.request_id),
            task_queue=task_queue,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.STATION_ID, station_id)]
            ),
            static_summary=f"{request.command} to {station_id}",
        )
    except WorkflowFailureError as exc:
        raise command_error(exc) from None
    return reply
