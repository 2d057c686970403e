"""Charge detail records."""

from __future__ import annotations

from fastapi import APIRouter, Query

from activities.persistence.repositories import cdrs
from api.auth import Viewer
from api.deps import IdInPath, Session
from api.errors import not_found
from api.schemas import CdrOut, UtcDateTime

router = APIRouter(prefix="/cdrs", tags=["cdrs"])


@router.get("")
async def list_cdrs(
    session: Session,
    _: Viewer,
    station_id: str | None = None,
    site_id: str | None = None,
    stopped_after: UtcDateTime | None = None,
    stopped_before: UtcDateTime | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**63 - 1),
) -> list[CdrOut]:
    """CDRs, newest first."""
    rows = await cdrs.list_cdrs(
        session,
        station_id=station_id,
        site_id=site_id,
        stopped_after=stopped_after,
        stopped_before=stopped_before,
        limit=limit,
        offset=offset,
    )
    return [CdrOut.model_validate(r) for r in rows]


@router.get("/{cdr_id}")
async def get_cdr(cdr_id: IdInPath, session: Session, _: Viewer) -> CdrOut:
    """One CDR."""
    row = await cdrs.get_cdr(session, cdr_id)
    if row is None:
        raise not_found("cdr", cdr_id)
    return CdrOut.model_validate(row)
