"""Running charger commands through Temporal on the API's behalf, with HTTP error mapping."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.persistence.repositories import registry, stations
from activities.temporal_link import TemporalLink
from api.errors import not_found
from workflows import search_attributes as sa
from workflows.charging_session import ChargingSessionWorkflow, initial_search_attributes
from workflows.commands import (
    CommandFailure,
    CommandReply,
    CommandRequest,
    RemoteStart,
    command_workflow_id,
)
from workflows.domain import RemoteStartRequest, remote_session_workflow_id
from workflows.station_command import StationCommandWorkflow

DISPATCH_S = 10.0
"""How long a command may wait for a worker to take it. The API waits that long plus
the charger's answer time; a command not sent by then is never sent."""

HTTP_STATUS = {
    CommandFailure.STATION_OFFLINE: status.HTTP_409_CONFLICT,
    CommandFailure.TIMEOUT: status.HTTP_504_GATEWAY_TIMEOUT,
    CommandFailure.EXPIRED: status.HTTP_504_GATEWAY_TIMEOUT,
    CommandFailure.CHARGER_ERROR: status.HTTP_502_BAD_GATEWAY,
    CommandFailure.NOT_SUPPORTED: status.HTTP_422_UNPROCESSABLE_CONTENT,
    CommandFailure.INVALID: status.HTTP_422_UNPROCESSABLE_CONTENT,
}


def command_error(error: BaseException) -> HTTPException:
    """The HTTP answer to a failed command workflow: status by failure type, with the reason."""
    cause = (
        error.cause
        if isinstance(error, WorkflowFailureError | WorkflowUpdateFailedError)
        else error
    )
    if isinstance(cause, ApplicationError) and cause.type in HTTP_STATUS:
        code = HTTP_STATUS[cause.type]
        if code == status.HTTP_422_UNPROCESSABLE_CONTENT:
            # Every 422 of the API has the documented validation-error shape.
            return HTTPException(
                code,
                [{"type": cause.type, "loc": ["body"], "msg": cause.message, "input": None}],
            )
        detail: dict[str, Any] = {"error": cause.type, "reason": cause.message}
        if cause.details and isinstance(cause.details[0], dict):
            detail.update(cause.details[0])
        return HTTPException(code, detail)
    return HTTPException(status.HTTP_502_BAD_GATEWAY, f"command failed: {cause}")


async def reachable_node(session: AsyncSession, station_id: str) -> str:
    """The gateway node holding a registered station's socket: 404 for an unknown
    station, 409 at once for an offline one (the workflow would only confirm it).
    Gives the database connection back: the caller now waits on the charger."""
    if await stations.get_station(session, station_id) is None:
        raise not_found("station", station_id)
    live = (await registry.connections(session, [station_id])).get(station_id)
    await session.close()
    if live is None:
        raise offline_error(station_id)
    return live.node_id


def offline_error(station_id: str) -> HTTPException:
    """409 for a station no gateway node holds (the same answer the workflow gives)."""
    return HTTPException(
        status.HTTP_409_CONFLICT,
        {
            "error": CommandFailure.STATION_OFFLINE,
            "reason": f"station {station_id} is offline: no gateway node holds its connection",
        },
    )


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
    node_hint: str | None = None,
) -> CommandReply:
    """Send ``command`` to the station through a ``StationCommand`` workflow; its answer.

    Waits a bounded time (the dispatch window plus ``timeout_s``): with no worker
    running the answer is a 504, and the command carries a deadline past which
    neither the workflow nor the gateway sends it.
    """
    client = await temporal_client(temporal)
    request = CommandRequest.of(
        station_id,
        command,
        uuid.uuid4().hex,
        timeout_s,
        node_hint,
        send_by=datetime.now(UTC) + timedelta(seconds=DISPATCH_S),
    )
    try:
        async with asyncio.timeout(DISPATCH_S + timeout_s + 2):
            reply: CommandReply = await client.execute_workflow(
                StationCommandWorkflow.run,
                request,
                id=command_workflow_id(station_id, request.request_id),
                task_queue=task_queue,
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(sa.STATION_ID, station_id)]
                ),
                static_summary=f"{request.command} to {station_id}",
                # Bounded like the wait: a forgotten command never runs days later.
                execution_timeout=timedelta(seconds=DISPATCH_S + 2 * timeout_s + 60),
            )
    except WorkflowFailureError as exc:
        raise command_error(exc) from None
    except TimeoutError:
        raise no_worker() from None
    except RPCError as exc:
        raise temporal_unavailable(exc) from None
    return reply


def no_worker() -> HTTPException:
    """504 for a command no worker took in time (it carries a deadline: never sent later)."""
    return HTTPException(
        status.HTTP_504_GATEWAY_TIMEOUT,
        {
            "error": CommandFailure.EXPIRED,
            "reason": f"no worker took the command within {DISPATCH_S:g} s; it will not be sent",
        },
    )


def temporal_unavailable(exc: BaseException) -> HTTPException:
    """503 for a Temporal that cannot be reached or refuses the request right now."""
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"Temporal is unavailable: {exc}")


@dataclass(frozen=True)
class RemoteStartReply:
    """The charger's answer to a remote start, and the session workflow awaiting it."""

    workflow_id: str
    remote_start_id: int
    reply: CommandReply


async def run_remote_start(
    temporal: TemporalLink,
    task_queue: str,
    station_id: str,
    site_id: str | None,
    command: RemoteStart,
    *,
    timeout_s: float = 30.0,
    start_timeout_s: float = 180.0,
) -> RemoteStartReply:
    """Start the session workflow, which sends the remote start; the charger's answer.

    Update-with-start: one call creates the workflow and waits for the answer;
    the charger's transaction is then correlated to this workflow.
    """
    client = await temporal_client(temporal)
    remote_start_id = command.remote_start_id or secrets.randbelow(2**31 - 2) + 1
    request = RemoteStartRequest(
        station_id=station_id,
        site_id=site_id,
        remote_start_id=remote_start_id,
        id_token=command.id_token,
        request_id=uuid.uuid4().hex,
        evse_id=command.evse_id,
        connector_id=command.connector_id,
        command_timeout_s=timeout_s,
        start_timeout_s=start_timeout_s,
        send_by=datetime.now(UTC) + timedelta(seconds=DISPATCH_S),
        charging_profile=command.charging_profile,
    )
    workflow_id = remote_session_workflow_id(station_id, remote_start_id)
    operation = WithStartWorkflowOperation(
        ChargingSessionWorkflow.run,
        request,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=initial_search_attributes(request),
        static_summary=f"Remote start {remote_start_id} on {station_id}",
    )
    try:
        async with asyncio.timeout(DISPATCH_S + timeout_s + 2):
            reply: CommandReply = await client.execute_update_with_start_workflow(
                ChargingSessionWorkflow.remote_start_result, start_workflow_operation=operation
            )
    except WorkflowUpdateFailedError as exc:
        raise command_error(exc) from None
    except TimeoutError:
        raise no_worker() from None
    except RPCError as exc:
        raise temporal_unavailable(exc) from None
    except WorkflowAlreadyStartedError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"remote start id {remote_start_id} was already used"
        ) from None
    return RemoteStartReply(workflow_id, remote_start_id, reply)
