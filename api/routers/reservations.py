"""Reservations: each a ``Reservation`` workflow that sends ReserveNow and expires it."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.service import RPCError

from activities.persistence.repositories import reservations, stations
from api.auth import Operator, Viewer
from api.commands import (
    DISPATCH_S,
    command_error,
    no_worker,
    reachable_node,
    temporal_client,
    temporal_unavailable,
)
from api.deps import Session
from api.errors import not_found, unprocessable
from api.schemas import UtcDateTime
from workflows import search_attributes as sa
from workflows.commands import CommandReply
from workflows.domain import ReservationRequest, reservation_workflow_id
from workflows.reservation import ReservationWorkflow

router = APIRouter(prefix="/stations/{station_id}/reservations", tags=["reservations"])


class ReservationIn(BaseModel):
    """Who may charge where, until when."""

    id_token: str = Field(min_length=1, max_length=36)
    expires_at: UtcDateTime
    connector_id: int = Field(
        1, ge=0, le=2**31 - 1, description="1.6 connector (0: the whole station)"
    )
    evse_id: int | None = Field(None, ge=1, le=2**31 - 1, description="2.x EVSE (none: any)")
    connector_type: str | None = Field(
        None, min_length=1, max_length=20, description="2.x: any EVSE with this connector type"
    )
    group_id_token: str | None = Field(
        None, min_length=1, max_length=20, description="any token of this group may use it"
    )


class ReservationOut(BaseModel):
    """A reservation as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    station_id: str
    evse_id: int | None
    connector_id: int
    id_token: str
    group_id_token: str | None
    connector_type: str | None
    expires_at: datetime
    status: str
    workflow_id: str
    transaction_pk: int | None
    created_at: datetime


class ReservationReply(BaseModel):
    """The charger's answer and the reservation's workflow."""

    reservation_id: int
    workflow_id: str
    reply: CommandReply


@router.post("")
async def reserve(
    station_id: str, body: ReservationIn, request: Request, session: Session, _: Operator
) -> ReservationReply:
    """Reserve; the answer is the charger's. Accepted reservations expire on their own."""
    if body.expires_at <= datetime.now(UTC):
        raise unprocessable("expires_at is in the past")
    await reachable_node(session, station_id)
    reservation_id = secrets.randbelow(2**31 - 2) + 1
    workflow_id = reservation_workflow_id(station_id, reservation_id)
    operation = WithStartWorkflowOperation(
        ReservationWorkflow.run,
        ReservationRequest(
            station_id=station_id,
            reservation_id=reservation_id,
            id_token=body.id_token,
            expires_at=body.expires_at,
            request_id=uuid.uuid4().hex,
            connector_id=body.connector_id,
            evse_id=body.evse_id,
            connector_type=body.connector_type,
            group_id_token=body.group_id_token,
        ),
        id=workflow_id,
        task_queue=request.app.state.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.STATION_ID, station_id)]),
        static_summary=f"Reservation {reservation_id} on {station_id}",
    )
    client = await temporal_client(request.app.state.temporal)
    try:
        # Bounded: with no worker running the operator hears so, instead of waiting.
        async with asyncio.timeout(DISPATCH_S + 32):
            reply: CommandReply = await client.execute_update_with_start_workflow(
                ReservationWorkflow.reserve_result, start_workflow_operation=operation
            )
    except WorkflowUpdateFailedError as exc:
        raise command_error(exc) from None
    except TimeoutError:
        raise no_worker() from None
    except RPCError as exc:
        raise temporal_unavailable(exc) from None
    return ReservationReply(reservation_id=reservation_id, workflow_id=workflow_id, reply=reply)


@router.get("")
async def list_reservations(station_id: str, session: Session, _: Viewer) -> list[ReservationOut]:
    """The station's reservations, newest first."""
    if await stations.get_station(session, station_id) is None:
        raise not_found("station", station_id)
    return [
        ReservationOut.model_validate(r) for r in await reservations.of_station(session, station_id)
    ]


@router.delete("/{reservation_id}")
async def cancel_reservation(
    station_id: str,
    reservation_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    request: Request,
    _: Operator,
) -> CommandReply:
    """Cancel an active reservation; the charger's answer to CancelReservation."""
    client = await temporal_client(request.app.state.temporal)
    handle = client.get_workflow_handle(reservation_workflow_id(station_id, reservation_id))
    try:
        return await handle.execute_update(ReservationWorkflow.cancel)
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, Exception) and "not active" in str(cause):
            raise HTTPException(status.HTTP_409_CONFLICT, str(cause)) from None
        raise command_error(exc) from None
    except RPCError as exc:
        if "not found" in str(exc).lower() or "completed" in str(exc).lower():
            raise not_found("active reservation", reservation_id) from None
        raise
