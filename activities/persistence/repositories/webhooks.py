"""Utilities' subscriptions and the webhook deliveries they are owed.

A change a subscriber asked to hear of adds one delivery row per callback in the
transaction of the change itself (an outbox): the change and its notification
commit together or not at all. Each row is then delivered by its own
``webhook:{id}`` workflow.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import DrDelivery, DrSubscription

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


OPERATIONS_31 = {"GET": "READ", "POST": "CREATE", "PUT": "UPDATE", "DELETE": "DELETE"}
"""OpenADR 3.0.1 names operations by their HTTP method, 3.1 by what they do."""


def said(operation: str, wanted: Sequence[str]) -> str | None:
    """``operation`` (an HTTP method) as a subscription that wants ``wanted`` names it
    (3.0.1 or 3.1 words), or None when it does not want it."""
    if operation in wanted:
        return operation
    return OPERATIONS_31[operation] if OPERATIONS_31[operation] in wanted else None


def _wants(
    subscription: DrSubscription,
    program_id: str | None,
    targets: Iterable[str] | None,
) -> bool:
    """Whether the subscription's program and targets cover the object."""
    if subscription.program_id is not None and subscription.program_id != program_id:
        return False
    wanted = set(subscription.body.get("targets") or [])
    given = set(targets or [])
    # No targets on either side: everything of the utility's.
    return not wanted or not given or bool(wanted & given)


async def queue(
    session: AsyncSession,
    *,
    client_id: str,
    object_type: str,
    operation: str,
    obj: dict[str, Any],
    program_id: str | None,
    targets: Iterable[str] | None = None,
    started_at: datetime | None = None,
) -> list[DrDelivery]:
    """Add a delivery for every callback of the client's subscriptions that asked for
    this object type and operation (one per callback URL), in the caller's
    transaction; returns them."""
    targets = list(targets or [])
    subscriptions = (
        await session.scalars(
            select(DrSubscription)
            .where(DrSubscription.client_id == client_id)
            .order_by(DrSubscription.created_at, DrSubscription.id)
        )
    ).all()
    added: list[DrDelivery] = []
    for subscription in subscriptions:
        if not _wants(subscription, program_id, targets):
            continue
        calls: dict[str, str] = {}  # callback URL -> the operation's name in its words
        for operations in subscription.body.get("objectOperations") or []:
            named = said(operation, operations["operations"])
            if object_type in operations["objects"] and named is not None:
                calls.setdefault(operations["callbackUrl"], named)
        for url, named in calls.items():
            payload: dict[str, Any] = {"objectType": object_type, "operation": named, "object": obj}
            if targets:
                payload["targets"] = targets
            delivery = DrDelivery(
                id=str(uuid.uuid4()),
                subscription_id=subscription.id,
                client_id=client_id,
                object_type=object_type,
                operation=operation,
                object_id=str(obj.get("id", "")),
                callback_url=url,
                payload=payload,
                status=PENDING,
                attempts=0,
                started_at=started_at,
            )
            session.add(delivery)
            added.append(delivery)
    # Not flushed here: they are written with the change, at its commit.
    return added


async def of_object(session: AsyncSession, object_type: str, object_id: str) -> Sequence[str]:
    """The ids of the deliveries already queued for an object."""
    rows = await session.scalars(
        select(DrDelivery.id)
        .where(DrDelivery.object_type == object_type, DrDelivery.object_id == object_id)
        .order_by(DrDelivery.created_at, DrDelivery.id)
    )
    return rows.all()


async def unstarted(
    session: AsyncSession, created_before: datetime, limit: int = 200
) -> Sequence[str]:
    """Pending deliveries whose workflow nobody started (the API could not reach
    Temporal, or stopped between its commit and the start), oldest first."""
    rows = await session.scalars(
        select(DrDelivery.id)
        .where(
            DrDelivery.status == PENDING,
            DrDelivery.started_at.is_(None),
            DrDelivery.created_at < created_before,
        )
        .order_by(DrDelivery.created_at, DrDelivery.id)
        .limit(limit)
    )
    return rows.all()


async def mark_started(session: AsyncSession, ids: Sequence[str], now: datetime) -> None:
    """Record that the deliveries' workflows run."""
    if ids:
        await session.execute(
            update(DrDelivery)
            .where(DrDelivery.id.in_(list(ids)), DrDelivery.started_at.is_(None))
            .values(started_at=now)
        )


async def search(
    session: AsyncSession,
    *,
    client_id: str | None = None,
    subscription_id: str | None = None,
    status: str | None = None,
    skip: int = 0,
    limit: int = 50,
) -> Sequence[DrDelivery]:
    """Deliveries, newest first, filtered by utility, subscription and status."""
    query = select(DrDelivery)
    if client_id is not None:
        query = query.where(DrDelivery.client_id == client_id)
    if subscription_id is not None:
        query = query.where(DrDelivery.subscription_id == subscription_id)
    if status is not None:
        query = query.where(DrDelivery.status == status)
    rows = await session.scalars(
        query.order_by(DrDelivery.created_at.desc(), DrDelivery.id).offset(skip).limit(limit)
    )
    return rows.all()


def served(delivery: DrDelivery) -> dict[str, Any]:
    """A delivery as the API shows it (the notification's object left out)."""
    return {
        "id": delivery.id,
        "subscriptionID": delivery.subscription_id,
        "objectType": delivery.object_type,
        "operation": delivery.operation,
        "objectID": delivery.object_id,
        "callbackUrl": delivery.callback_url,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "lastStatusCode": delivery.last_status_code,
        "lastError": delivery.last_error,
        "createdDateTime": delivery.created_at.isoformat(),
        "lastAttemptDateTime": _iso(delivery.last_attempt_at),
        "deliveredDateTime": _iso(delivery.delivered_at),
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None
