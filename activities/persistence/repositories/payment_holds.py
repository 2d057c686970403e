"""Card holds waiting for the ad-hoc session they pay for, and the CDRs that claim them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.database import dialect_insert
from activities.persistence.models import ChargeDetailRecordRow, PaymentHoldRow, utcnow

CLOCK_SLACK = timedelta(minutes=5)
"""How long before its hold a session may seem to start (the charger's clock is not
ours): a hold placed up to this long after a session's start still pays for it."""


async def await_session(
    session: AsyncSession,
    key: str,
    *,
    station_id: str,
    id_token: str,
    amount: Decimal,
    currency: str,
) -> None:
    """Let the next session of ``id_token`` on ``station_id`` claim the hold (once)."""
    statement = dialect_insert(session)(PaymentHoldRow).values(
        key=key,
        station_id=station_id,
        id_token=id_token,
        amount=amount,
        currency=currency,
        state="held",
        created_at=utcnow(),
    )
    await session.execute(statement.on_conflict_do_nothing(index_elements=["key"]))


async def close(session: AsyncSession, key: str) -> None:
    """The hold is over (captured, released or expired): no session claims it now."""
    await session.execute(
        update(PaymentHoldRow).where(PaymentHoldRow.key == key).values(state="closed")
    )


async def get(session: AsyncSession, key: str) -> PaymentHoldRow | None:
    """A hold as stored."""
    return await session.get(PaymentHoldRow, key)


async def claim(
    session: AsyncSession,
    cdrs: Sequence[ChargeDetailRecordRow],
    *,
    new: Sequence[ChargeDetailRecordRow] = (),
) -> dict[int, str]:
    """The hold each of these CDRs is paid from, by CDR id: for one written before (a
    settlement repeated), the hold it claimed then; for one ``new`` in this
    transaction, the earliest waiting hold for its station and id token placed before
    its session started, claimed now. A query for each of the two kinds present."""
    found: dict[int, str] = {}
    fresh = {row.id for row in new}
    earlier = [row.id for row in cdrs if row.id not in fresh]
    if earlier:
        rows = await session.execute(
            select(PaymentHoldRow.cdr_id, PaymentHoldRow.key).where(
                PaymentHoldRow.cdr_id.in_(earlier)
            )
        )
        found.update({cdr_id: key for cdr_id, key in rows if cdr_id is not None})
    open_ = [row for row in new if row.id_token]
    if not open_:
        return found
    pairs = {(row.station_id, row.id_token) for row in open_}
    waiting = (
        await session.scalars(
            select(PaymentHoldRow)
            .where(
                PaymentHoldRow.state == "held",
                PaymentHoldRow.cdr_id.is_(None),
                tuple_(PaymentHoldRow.station_id, PaymentHoldRow.id_token).in_(list(pairs)),
            )
            .order_by(PaymentHoldRow.created_at, PaymentHoldRow.key)
        )
    ).all()
    if not waiting:
        return found
    taken: set[str] = set()
    for row in sorted(open_, key=lambda cdr: (cdr.started_at, cdr.id)):
        for hold in waiting:
            if (
                hold.key in taken
                or (hold.station_id, hold.id_token) != (row.station_id, row.id_token)
                or hold.created_at > row.started_at + CLOCK_SLACK
            ):
                continue
            claimed = await session.execute(
                update(PaymentHoldRow)
                .where(PaymentHoldRow.key == hold.key, PaymentHoldRow.cdr_id.is_(None))
                .values(cdr_id=row.id)
            )
            taken.add(hold.key)
            if claimed.rowcount:  # type: ignore[attr-defined]
                found[row.id] = hold.key
                break
    return found
