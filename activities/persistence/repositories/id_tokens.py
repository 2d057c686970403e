"""Id tokens (RFID cards, app accounts) and their authorization status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import IdToken
from workflows.domain import Authorization, AuthorizationStatus


def status_of(token: IdToken | None, now: datetime) -> AuthorizationStatus:
    """What a charger should be told about ``token`` at ``now``."""
    if token is None:
        return AuthorizationStatus.UNKNOWN
    if token.status == "invalid":
        return AuthorizationStatus.INVALID
    if token.status == "blocked":
        return AuthorizationStatus.BLOCKED
    if token.expires_at is not None and token.expires_at <= now:
        return AuthorizationStatus.EXPIRED
    return AuthorizationStatus.ACCEPTED


async def get_token(session: AsyncSession, id_token: str) -> IdToken | None:
    """The token row, or None."""
    return await session.get(IdToken, id_token)


async def list_tokens(
    session: AsyncSession, *, limit: int = 100, offset: int = 0
) -> Sequence[IdToken]:
    """Tokens ordered by value."""
    query = select(IdToken).order_by(IdToken.id_token).limit(limit).offset(offset)
    return (await session.scalars(query)).all()


def authorization_of(token: IdToken | None, now: datetime) -> Authorization:
    """Status, group and how long a charger may cache the answer."""
    status = status_of(token, now)
    if token is None or status is not AuthorizationStatus.ACCEPTED:
        return Authorization(status)
    return Authorization(status, group_id=token.group_id, cache_expires_at=token.expires_at)
