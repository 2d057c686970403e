"""OpenADR 3 subscriptions: the webhooks a utility wants called, and what became of
each call (``/subscriptions/{id}/deliveries``, this VTN's addition)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import select

from activities.persistence.models import DrSubscription
from activities.persistence.repositories import webhooks
from api.deps import Session
from api.openadr3.auth import SubscriptionWriter, Utility
from api.openadr3.programs import Limit, Skip, _check_targets, own_program
from api.openadr3.schemas import ObjectType, SubscriptionIn, served

router = APIRouter(prefix="/subscriptions", tags=["openadr3"])


async def _sound(session: Any, utility: Utility, body: SubscriptionIn) -> None:
    """400 with the reason when the program or a target is not the utility's."""
    _check_targets(utility, body.targets)
    if body.programID is not None:
        try:
            await own_program(session, utility, body.programID)
        except HTTPException:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, f"unknown program {body.programID!r}"
            ) from None


async def _own(session: Any, utility: Utility, subscription_id: str) -> DrSubscription:
    subscription = await session.get(DrSubscription, subscription_id)
    if subscription is None or subscription.client_id != utility.client_id:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"subscription {subscription_id!r} not found"
        )
    return subscription


@router.get("")
async def search_subscriptions(
    utility: Utility,
    session: Session,
    programID: str | None = None,
    clientName: str | None = None,
    objects: ObjectType | None = None,
    skip: Skip = 0,
    limit: Limit = 50,
) -> list[dict[str, Any]]:
    """The utility's subscriptions, oldest first (of one program, client name, or
    object type)."""
    query = select(DrSubscription).where(DrSubscription.client_id == utility.client_id)
    if programID is not None:
        query = query.where(DrSubscription.program_id == programID)
    rows = (
        await session.scalars(query.order_by(DrSubscription.created_at, DrSubscription.id))
    ).all()
    found = [
        row.body
        for row in rows
        if (clientName is None or row.body.get("clientName") == clientName)
        and (
            objects is None
            or any(objects in o["objects"] for o in row.body.get("objectOperations") or [])
        )
    ]
    return found[skip : skip + limit]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_subscription(
    body: SubscriptionIn, utility: SubscriptionWriter, session: Session
) -> dict[str, Any]:
    """A new subscription: from now on, the changes it names call its webhooks."""
    await _sound(session, utility, body)
    now = datetime.now(UTC)
    ident = str(uuid.uuid4())
    subscription = DrSubscription(
        id=ident,
        client_id=utility.client_id,
        program_id=body.programID,
        # The definition has the VTN name the subscriber by its client id.
        body={**served("SUBSCRIPTION", ident, now, now, body), "clientID": utility.client_id},
        created_at=now,
        modified_at=now,
    )
    session.add(subscription)
    await session.commit()
    return subscription.body


@router.get("/{subscription_id}")
async def get_subscription(
    subscription_id: str, utility: Utility, session: Session
) -> dict[str, Any]:
    """One of the utility's subscriptions."""
    return (await _own(session, utility, subscription_id)).body


@router.put("/{subscription_id}")
async def update_subscription(
    subscription_id: str, body: SubscriptionIn, utility: SubscriptionWriter, session: Session
) -> dict[str, Any]:
    """Replace a subscription (its id and creation time stay); deliveries already
    queued go to the callbacks they were queued for."""
    subscription = await _own(session, utility, subscription_id)
    await _sound(session, utility, body)
    now = datetime.now(UTC)
    subscription.program_id = body.programID
    subscription.body = {
        **served("SUBSCRIPTION", subscription.id, subscription.created_at, now, body),
        "clientID": utility.client_id,
    }
    subscription.modified_at = now
    await session.commit()
    return subscription.body


@router.delete("/{subscription_id}")
async def delete_subscription(
    subscription_id: str, utility: SubscriptionWriter, session: Session
) -> dict[str, Any]:
    """Delete a subscription; answers the object as it was. Its pending deliveries
    stop at their next attempt."""
    subscription = await _own(session, utility, subscription_id)
    body = subscription.body
    await session.delete(subscription)
    await session.commit()
    return body


@router.get("/{subscription_id}/deliveries")
async def search_deliveries(
    subscription_id: str,
    utility: Utility,
    session: Session,
    state: Annotated[
        Literal["pending", "delivered", "failed"] | None, Query(alias="status")
    ] = None,
    skip: Skip = 0,
    limit: Limit = 50,
) -> list[dict[str, Any]]:
    """The webhook calls of one subscription, newest first: status, attempts, the last
    answer or error (filter with ``status``)."""
    await _own(session, utility, subscription_id)
    rows = await webhooks.search(
        session,
        client_id=utility.client_id,
        subscription_id=subscription_id,
        status=state,
        skip=skip,
        limit=limit,
    )
    return [webhooks.served(row) for row in rows]
