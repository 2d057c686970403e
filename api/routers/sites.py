"""Sites: where chargers stand and what energy costs there."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy.exc import IntegrityError

from activities.persistence.repositories import sites
from api.auth import Operator, Viewer
from api.deps import Session
from api.errors import conflict, not_found
from api.schemas import SiteIn, SiteOut

router = APIRouter(prefix="/sites", tags=["sites"])


@router.get("")
async def list_sites(session: Session, _: Viewer) -> list[SiteOut]:
    """All sites."""
    return [SiteOut.model_validate(s) for s in await sites.list_sites(session)]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_site(body: SiteIn, session: Session, _: Operator) -> SiteOut:
    """Create a site; 409 if the id is taken."""
    if await sites.get_site(session, body.id) is not None:
        raise conflict("site", body.id)
    try:
        site = await sites.create_site(
            session, body.id, body.name, body.price_per_kwh, body.currency, body.time_zone
        )
        await session.commit()
    except IntegrityError:
        raise conflict("site", body.id) from None
    return SiteOut.model_validate(site)


@router.get("/{site_id}")
async def get_site(site_id: str, session: Session, _: Viewer) -> SiteOut:
    """One site; 404 if unknown."""
    site = await sites.get_site(session, site_id)
    if site is None:
        raise not_found("site", site_id)
    return SiteOut.model_validate(site)
