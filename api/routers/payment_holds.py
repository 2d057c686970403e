"""Card pre-authorisations for ad-hoc sessions: place, settle with the total, release."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Request, status
from pydantic import BaseModel, Field, StringConstraints
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from activities.billing.currencies import UnknownCurrency, round_money
from activities.payments.stripe_adapter import HoldRequest
from activities.persistence.repositories import stations
from api.auth import Operator, Viewer
from api.commands import temporal_client, temporal_unavailable
from api.deps import Session
from api.errors import not_found, unprocessable
from api.schemas import Currency
from workflows.payment_hold import (
    PaymentHoldResult,
    PaymentHoldWorkflow,
    payment_hold_workflow_id,
)

router = APIRouter(prefix="/payment-holds", tags=["payments"])

HoldKey = Annotated[str, Path(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9._:\-]+$")]
Amount = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=4)]


class HoldIn(BaseModel):
    """A hold for one session, named by a key of the caller's (the session's own id)."""

    key: Annotated[
        str, StringConstraints(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9._:\-]+$")
    ]
    amount: Amount
    currency: Currency
    payment_method: Annotated[str, StringConstraints(min_length=3, max_length=100)] = Field(
        description="a Stripe PaymentMethod id (pm_...)"
    )
    customer: Annotated[str, StringConstraints(min_length=3, max_length=100)] | None = None
    station_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        None,
        description="the station of the ad-hoc session it pays for, not started yet "
        "(with id_token): its CDR total is captured when it settles",
    )
    id_token: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        None, description="the id token that session starts with (e.g. the remote start's)"
    )


class HoldOut(BaseModel):
    """The workflow that holds the payment, and where it is."""

    workflow_id: str
    state: str | None = None


class TotalIn(BaseModel):
    """The session's total, VAT included: what is captured."""

    total: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=4)]


def _checked(amount: Decimal, currency: str) -> Decimal:
    try:
        rounded = round_money(amount, currency)
    except UnknownCurrency as error:
        raise unprocessable(f"currency: {error}") from None
    if rounded != amount:
        raise unprocessable(f"amount: {currency} has no more decimals than {rounded}")
    return rounded


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def place_hold(body: HoldIn, request: Request, session: Session, _: Operator) -> HoldOut:
    """Start the ``PaymentHold`` workflow (joined when the key's hold exists). With a
    station and an id token, the next session of that token on that station is paid
    from it: its CDR total is captured when it settles, the rest released."""
    amount = _checked(body.amount, body.currency)
    if (body.station_id is None) != (body.id_token is None):
        raise unprocessable("station_id and id_token: give both (the session) or neither")
    if body.station_id is not None and await stations.get_station(session, body.station_id) is None:
        raise not_found("station", body.station_id)
    await session.close()
    client = await temporal_client(request.app.state.temporal)
    workflow_id = payment_hold_workflow_id(body.key)
    try:
        await client.start_workflow(
            PaymentHoldWorkflow.run,
            HoldRequest(
                body.key,
                str(amount),
                body.currency,
                body.payment_method,
                body.customer,
                station_id=body.station_id,
                id_token=body.id_token,
            ),
            id=workflow_id,
            task_queue=request.app.state.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except RPCError as exc:
        raise temporal_unavailable(exc) from None
    return HoldOut(workflow_id=workflow_id)


async def _handle(
    request: Request, key: str
) -> WorkflowHandle[PaymentHoldWorkflow, PaymentHoldResult]:
    client = await temporal_client(request.app.state.temporal)
    return client.get_workflow_handle_for(PaymentHoldWorkflow.run, payment_hold_workflow_id(key))


async def _tell(request: Request, key: str, signal: str, *args: str) -> HoldOut:
    """Send the key's hold a signal; 404 when there is none."""
    handle = await _handle(request, key)
    try:
        await handle.signal(signal, *args)
    except RPCError as exc:
        if "not found" in str(exc).lower():
            raise not_found("payment hold", key) from None
        raise temporal_unavailable(exc) from None
    return HoldOut(workflow_id=handle.id)


@router.get("/{key}")
async def get_hold(key: HoldKey, request: Request, _: Viewer) -> HoldOut:
    """Where the hold is: holding, held, captured, released, expired or declined."""
    handle = await _handle(request, key)
    try:
        state = await handle.query(PaymentHoldWorkflow.state)
    except RPCError as exc:
        if "not found" in str(exc).lower():
            raise not_found("payment hold", key) from None
        raise temporal_unavailable(exc) from None
    return HoldOut(workflow_id=handle.id, state=state)


@router.post("/{key}/settle", status_code=status.HTTP_202_ACCEPTED)
async def settle_hold(key: HoldKey, body: TotalIn, request: Request, _: Operator) -> HoldOut:
    """Capture the session's total (at most what is held; the rest is released)."""
    return await _tell(request, key, "settle", str(body.total))


@router.post("/{key}/release", status_code=status.HTTP_202_ACCEPTED)
async def release_hold(key: HoldKey, request: Request, _: Operator) -> HoldOut:
    """Give the whole hold back (the session is not billed)."""
    return await _tell(request, key, "release")
