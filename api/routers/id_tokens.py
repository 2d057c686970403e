"""Id tokens (RFID cards, app accounts): create, read, update, delete."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.exc import IntegrityError

from activities.persistence.models import IdToken
from activities.persistence.repositories import id_tokens
from api.auth import Operator, Viewer
from api.deps import Session
from api.errors import conflict, not_found
from api.schemas import IdTokenIn, IdTokenOut, IdTokenPatch

router = APIRouter(prefix="/id-tokens", tags=["id tokens"])


async def _get(session: Session, token: str) -> IdToken:
    row = await id_tokens.get_token(session, token)
    if row is None:
        raise not_found("id token", token)
    return row


@router.get("")
async def list_tokens(
    session: Session,
    _: Viewer,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**63 - 1),
) -> list[IdTokenOut]:
    """Id tokens ordered by value."""
    rows = await id_tokens.list_tokens(session, limit=limit, offset=offset)
    return [IdTokenOut.model_validate(r) for r in rows]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_token(body: IdTokenIn, session: Session, _: Operator) -> IdTokenOut:
    """Add a token; 409 if it exists."""
    if await id_tokens.get_token(session, body.id_token) is not None:
        raise conflict("id token", body.id_token)
    row = IdToken(**body.model_dump())
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        raise conflict("id token", body.id_token) from None
    return IdTokenOut.model_validate(row)


@router.get("/{token}")
async def get_token(token: str, session: Session, _: Viewer) -> IdTokenOut:
    """One token."""
    return IdTokenOut.model_validate(await _get(session, token))


@router.patch("/{token}")
async def update_token(token: str, body: IdTokenPatch, session: Session, _: Operator) -> IdTokenOut:
    """Change status, expiry or group; gateways see it within their cache TTL."""
    row = await _get(session, token)
    for name, value in body.model_dump(exclude_unset=True).items():
        setattr(row, name, value)
    await session.commit()
    return IdTokenOut.model_validate(row)


@router.delete("/{token}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_token(token: str, session: Session, _: Operator) -> Response:
    """Remove a token (it authorizes as Invalid afterwards)."""
    await session.delete(await _get(session, token))
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
