"""What a new transaction claims: the remote start it answers and the reservation it uses.

Every lookup is scoped to the station that started the transaction. The checks
cost two queries, so a connection runs them only while a claim may be pending
(see ``StationContext.claims_possible``) or when the charger names one.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import Transaction
from activities.persistence.repositories import remote_starts, reservations
from gateway.connection import StationContext
from gateway.timestamps import utcnow
from workflows.domain import TransactionEvent


async def claim(
    session: AsyncSession, ctx: StationContext, tx: Transaction, event: TransactionEvent
) -> tuple[bool, str | None]:
    """Apply remote starts and reservations to a new transaction: (whether its token may
    charge here, the workflow of the reservation it used)."""
    named = event.remote_start_id is not None or event.reservation_id is not None
    if not (ctx.claims_possible or named):
        return True, None
    generation = ctx.claims_generation
    more_starts = await _remote_start(session, tx)
    allowed, used, more_reservations = await reservations.claim_for_start(
        session,
        station_id=tx.station_id,
        evse_id=tx.evse_id,
        connector_id=tx.connector_id,
        id_token=tx.id_token,
        reservation_id=event.reservation_id,
        transaction_pk=tx.id,
        now=utcnow(),
    )
    # A command sent meanwhile bumped the generation: then keep checking.
    if not (more_starts or more_reservations) and generation == ctx.claims_generation:
        ctx.claims_possible = False
    return allowed, used


async def _remote_start(session: AsyncSession, tx: Transaction) -> bool:
    """Attach a new transaction to the remote start it answers, if any: its events then
    go to the session workflow the remote start created. True if other remote starts
    are still pending for the station."""
    claimed, others = await remote_starts.claim(
        session,
        station_id=tx.station_id,
        transaction_pk=tx.id,
        remote_start_id=tx.remote_start_id,
        id_token=tx.id_token,
        connector_id=tx.connector_id,
        now=utcnow(),
    )
    if claimed is None:
        return others
    tx.workflow_id, tx.remote_start_id = claimed.workflow_id, claimed.remote_start_id
    # A 1.6 start hands back a plain (unattached) row: write the link explicitly.
    await session.execute(
        update(Transaction)
        .where(Transaction.id == tx.id)
        .values(workflow_id=claimed.workflow_id, remote_start_id=claimed.remote_start_id)
    )
    return others
