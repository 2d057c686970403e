"""The operators' inboxes: messages that need a person (reconciliation) and lifecycle
events that can never be delivered as they are (outbox dead letters)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from activities.persistence.models import OutboxEvent, ReconciliationItem
from activities.persistence.repositories import outbox, reconciliation
from api.auth import Operator, Viewer
from api.deps import IdInPath, Session
from api.errors import not_found

router = APIRouter(tags=["reconciliation"])

AfterId = Query(0, ge=0, le=2**63 - 1, description="page on: the last id of the previous page")


class ReconciliationItemOut(BaseModel):
    """A message the platform kept but could not apply on its own, or a correction it made."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    station_id: str
    kind: str = Field(description="e.g. TransactionEnded, LateTransactionEnded, ...Corrected")
    note: str | None
    payload: dict[str, Any]
    received_at: datetime
    resolved_at: datetime | None
    resolution: str | None


class ResolutionIn(BaseModel):
    """What the operator did about an item."""

    resolution: str = Field(min_length=1, max_length=2000)


class DeadLetterOut(BaseModel):
    """An outbox event that no retry delivers (e.g. it does not decode)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    node_id: str
    kind: str
    workflow_id: str
    payload: dict[str, Any]
    created_at: datetime
    attempts: int
    last_error: str | None
    dead_at: datetime | None


@router.get("/reconciliation")
async def list_reconciliation(
    session: Session,
    _: Viewer,
    state: Literal["open", "resolved", "all"] = "open",
    station_id: str | None = None,
    kind: str | None = None,
    after_id: int = AfterId,
    limit: int = Query(100, ge=1, le=1000),
) -> list[ReconciliationItemOut]:
    """Items oldest first (open ones by default)."""
    rows = await reconciliation.list_items(
        session, state=state, station_id=station_id, kind=kind, after_id=after_id, limit=limit
    )
    return [ReconciliationItemOut.model_validate(r) for r in rows]


@router.get("/reconciliation/{item_id}")
async def get_reconciliation_item(
    item_id: IdInPath, session: Session, _: Viewer
) -> ReconciliationItemOut:
    """One item."""
    row = await session.get(ReconciliationItem, item_id)
    if row is None:
        raise not_found("reconciliation item", item_id)
    return ReconciliationItemOut.model_validate(row)


@router.post("/reconciliation/{item_id}/resolve")
async def resolve_reconciliation_item(
    item_id: IdInPath, body: ResolutionIn, session: Session, _: Operator
) -> ReconciliationItemOut:
    """Close an item with what was done; 409 if it was already resolved."""
    row = await session.get(ReconciliationItem, item_id)
    if row is None:
        raise not_found("reconciliation item", item_id)
    if row.resolved_at is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"item {item_id} is already resolved")
    await reconciliation.resolve(session, item_id, body.resolution, datetime.now(UTC))
    await session.commit()
    return ReconciliationItemOut.model_validate(row)


@router.get("/outbox/dead-letters", tags=["outbox"])
async def list_dead_letters(
    session: Session,
    _: Viewer,
    after_id: int = AfterId,
    limit: int = Query(100, ge=1, le=1000),
) -> list[DeadLetterOut]:
    """Lifecycle events taken out of delivery, oldest first, with the reason."""
    rows = await outbox.dead_letters(session, after_id=after_id, limit=limit)
    return [DeadLetterOut.model_validate(r) for r in rows]


@router.post("/outbox/dead-letters/{event_id}/retry", tags=["outbox"])
async def retry_dead_letter(event_id: IdInPath, session: Session, _: Operator) -> DeadLetterOut:
    """Put a dead letter back into delivery (after its cause was fixed)."""
    if not await outbox.revive(session, event_id):
        if await session.get(OutboxEvent, event_id) is None:
            raise not_found("dead letter", event_id)
        raise HTTPException(status.HTTP_409_CONFLICT, f"event {event_id} is not dead-lettered")
    await session.commit()
    row = await session.get(OutboxEvent, event_id)
    assert row is not None
    return DeadLetterOut.model_validate(row)
