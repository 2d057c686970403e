"""Billing accounts and the id tokens they own."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import BillingAccount, IdToken


async def get_account(session: AsyncSession, account_id: str) -> BillingAccount | None:
    """The account with ``account_id``, or None."""
    return await session.get(BillingAccount, account_id)


async def get_accounts(session: AsyncSession, account_ids: Sequence[str]) -> list[BillingAccount]:
    """These accounts, in id order (unknown ids left out)."""
    if not account_ids:
        return []
    rows = await session.scalars(
        select(BillingAccount)
        .where(BillingAccount.id.in_(list(account_ids)))
        .order_by(BillingAccount.id)
    )
    return list(rows)


async def list_accounts(
    session: AsyncSession, *, limit: int = 100, offset: int = 0, operator: str | None = None
) -> Sequence[BillingAccount]:
    """Accounts ordered by id."""
    query = select(BillingAccount).order_by(BillingAccount.id)
    if operator is not None:
        query = query.where(BillingAccount.operator == operator)
    return (await session.scalars(query.limit(limit).offset(offset))).all()


async def open_accounts(session: AsyncSession) -> Sequence[BillingAccount]:
    """Every account that is not closed (the ones invoicing runs for)."""
    return (
        await session.scalars(
            select(BillingAccount)
            .where(BillingAccount.closed_at.is_(None))
            .order_by(BillingAccount.id)
        )
    ).all()


async def tokens_of(session: AsyncSession, account_id: str) -> Sequence[IdToken]:
    """The id tokens an account owns."""
    return (
        await session.scalars(
            select(IdToken).where(IdToken.account_id == account_id).order_by(IdToken.id_token)
        )
    ).all()


async def owners(session: AsyncSession, tokens: Iterable[str]) -> dict[str, BillingAccount]:
    """The account that owns each of these tokens now (tokens without one are absent)."""
    wanted = set(tokens)
    if not wanted:
        return {}
    rows = await session.execute(
        select(IdToken.id_token, BillingAccount)
        .join(BillingAccount, BillingAccount.id == IdToken.account_id)
        .where(IdToken.id_token.in_(wanted))
    )
    return {token: account for token, account in rows}
