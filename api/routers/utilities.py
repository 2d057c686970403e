"""Utilities' OpenADR 3 clients, created by operators (the secret is shown once)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field, StringConstraints

from activities.persistence.models import UtilityClient
from activities.persistence.repositories import sites, utilities
from api.auth import Operator, Viewer
from api.deps import Session
from api.errors import unprocessable

router = APIRouter(prefix="/utilities", tags=["utilities"])


class UtilityIn(BaseModel):
    """A utility and the sites its demand-response events may target."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    sites: list[str] = Field(min_length=1, max_length=10_000)


class UtilityOut(BaseModel):
    """A utility's client (without its secret)."""

    client_id: str
    name: str
    sites: list[str]
    created_at: datetime


class UtilityCreated(UtilityOut):
    """A new client: the secret and the webhook signing key, this once."""

    client_secret: str
    token_url: str
    webhook_secret: str


class WebhookSecret(BaseModel):
    """A utility's new webhook signing key (the old one no longer signs)."""

    client_id: str
    webhook_secret: str


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_utility(body: UtilityIn, session: Session, _: Operator) -> UtilityCreated:
    """A client for a utility's OpenADR 3 tooling: its id and secret (shown only now;
    the secret is kept as a hash), for tokens at ``/openadr3/auth/token``."""
    known = await sites.get_sites(session, body.sites)
    missing = sorted(set(body.sites) - set(known))
    if missing:
        raise unprocessable(f"unknown sites: {', '.join(missing)}")
    client, secret = await utilities.create_client(session, body.name, body.sites)
    await session.commit()
    return UtilityCreated(
        client_id=client.client_id,
        name=client.name,
        sites=client.sites,
        created_at=client.created_at,
        client_secret=secret,
        token_url="/openadr3/auth/token",
        webhook_secret=client.webhook_secret,
    )


@router.post("/{client_id}/webhook-secret")
async def rotate_webhook_secret(client_id: str, session: Session, _: Operator) -> WebhookSecret:
    """A new key for the HMAC signature of the webhook calls to the utility, shown
    only now; calls from then on are signed with it."""
    client = await session.get(UtilityClient, client_id)
    if client is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"utility client {client_id!r} not found")
    secret = await utilities.new_webhook_secret(session, client)
    await session.commit()
    return WebhookSecret(client_id=client_id, webhook_secret=secret)


@router.get("")
async def list_utilities(session: Session, _: Viewer) -> list[UtilityOut]:
    """Every utility's client."""
    return [
        UtilityOut(client_id=c.client_id, name=c.name, sites=c.sites, created_at=c.created_at)
        for c in await utilities.list_clients(session)
    ]
