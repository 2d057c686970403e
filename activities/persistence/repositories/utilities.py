"""Utilities' OAuth2 clients and the access tokens the OpenADR 3 token endpoint issues."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.credentials import hash_password, verify_password
from activities.persistence.models import UtilityClient, UtilityToken

TOKEN_LIFETIME = timedelta(hours=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_client(
    session: AsyncSession, name: str, sites: Sequence[str]
) -> tuple[UtilityClient, str]:
    """A new client and its secret (returned once; only its hash is kept)."""
    secret = secrets.token_urlsafe(32)
    client = UtilityClient(
        client_id=f"utility-{secrets.token_hex(8)}",
        name=name,
        # Argon2id takes tens of milliseconds of CPU: off the event loop.
        secret_hash=await asyncio.to_thread(hash_password, secret),
        sites=sorted(set(sites)),
        webhook_secret=secrets.token_urlsafe(32),
    )
    session.add(client)
    await session.flush()
    return client, secret


async def new_webhook_secret(session: AsyncSession, client: UtilityClient) -> str:
    """Replace the client's webhook signing key; returns the new one (shown once)."""
    client.webhook_secret = secrets.token_urlsafe(32)
    await session.flush()
    return client.webhook_secret


async def list_clients(session: AsyncSession) -> Sequence[UtilityClient]:
    """Every utility client, by name."""
    return (await session.scalars(select(UtilityClient).order_by(UtilityClient.name))).all()


async def authenticate(session: AsyncSession, client_id: str, secret: str) -> UtilityClient | None:
    """The client whose id and secret these are, or None (an unknown id costs a hash
    check too, so timing does not tell which ids exist)."""
    client = await session.get(UtilityClient, client_id)
    encoded = client.secret_hash if client is not None else _DUMMY_HASH
    valid = await asyncio.to_thread(verify_password, secret, encoded)
    return client if client is not None and valid else None


async def issue_token(
    session: AsyncSession, client: UtilityClient, now: datetime, scopes: Sequence[str]
) -> str:
    """A new access token for ``client`` holding ``scopes``, valid for
    :data:`TOKEN_LIFETIME`; expired tokens of the client are forgotten meanwhile."""
    await session.execute(
        delete(UtilityToken).where(
            UtilityToken.client_id == client.client_id, UtilityToken.expires_at < now
        )
    )
    token = secrets.token_urlsafe(32)
    session.add(
        UtilityToken(
            token_sha256=_digest(token),
            client_id=client.client_id,
            expires_at=now + TOKEN_LIFETIME,
            scopes=" ".join(sorted(set(scopes))),
        )
    )
    await session.flush()
    return token


async def client_of_token(
    session: AsyncSession, token: str, now: datetime
) -> tuple[UtilityClient, frozenset[str]] | None:
    """The client an unexpired ``token`` was issued to and the scopes it holds, or None."""
    row = await session.get(UtilityToken, _digest(token))
    if row is None or row.expires_at <= now:
        return None
    client = await session.get(UtilityClient, row.client_id)
    return (client, frozenset(row.scopes.split())) if client is not None else None


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
