"""OpenADR 3 VENs, resources and notifiers, read-only: each site the utility may
target is one VEN with one resource (its grid connection), named by the site's
id, which is also the target that reaches it. The platform's operator manages
sites; a utility cannot add, change or remove them here (405)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import select

from activities.persistence.models import Site
from api.deps import Session
from api.openadr3.auth import Utility
from api.openadr3.programs import Limit, Skip

router = APIRouter(tags=["openadr3"])

VEN_PREFIX, RESOURCE_PREFIX = "ven-", "resource-"
Targets = Annotated[list[str] | None, Query()]


async def _sites(session: Any, utility: Utility) -> list[Site]:
    rows = await session.scalars(
        select(Site).where(Site.id.in_(sorted(utility.sites))).order_by(Site.id)
    )
    return list(rows.all())


def _ven(site: Site) -> dict[str, Any]:
    at = site.created_at.isoformat()
    return {
        "id": VEN_PREFIX + site.id,
        "createdDateTime": at,
        "modificationDateTime": at,
        "objectType": "VEN",
        "venName": site.id,
        "clientID": "csms",
        "targets": [site.id],
        "attributes": [{"type": "DESCRIPTION", "values": [site.name]}],
    }


def _resource(site: Site) -> dict[str, Any]:
    at = site.created_at.isoformat()
    return {
        "id": RESOURCE_PREFIX + site.id,
        "createdDateTime": at,
        "modificationDateTime": at,
        "objectType": "RESOURCE",
        "resourceName": site.id,
        "venID": VEN_PREFIX + site.id,
        "clientID": "csms",
        "targets": [site.id],
        "attributes": [{"type": "DESCRIPTION", "values": [f"grid connection of {site.name}"]}],
    }


def _targeted(obj: dict[str, Any], targets: list[str] | None) -> bool:
    # OpenADR 3 target filters are a logical AND: every one must be the object's.
    return not targets or set(targets) <= set(obj["targets"])


@router.get("/vens")
async def search_vens(
    utility: Utility,
    session: Session,
    venName: str | None = None,
    targets: Targets = None,
    skip: Skip = 0,
    limit: Limit = 50,
) -> list[dict[str, Any]]:
    """One VEN per site the utility may target."""
    vens = [_ven(s) for s in await _sites(session, utility)]
    found = [
        v for v in vens if (venName is None or v["venName"] == venName) and _targeted(v, targets)
    ]
    return found[skip : skip + limit]


@router.get("/vens/{ven_id}")
async def get_ven(ven_id: str, utility: Utility, session: Session) -> dict[str, Any]:
    """The VEN of one of the utility's sites."""
    for site in await _sites(session, utility):
        if VEN_PREFIX + site.id == ven_id:
            return _ven(site)
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"VEN {ven_id!r} not found")


@router.get("/resources")
async def search_resources(
    utility: Utility,
    session: Session,
    venID: str | None = None,
    resourceName: str | None = None,
    targets: Targets = None,
    skip: Skip = 0,
    limit: Limit = 50,
) -> list[dict[str, Any]]:
    """One resource (the grid connection) per site the utility may target."""
    found = [
        r
        for r in (_resource(s) for s in await _sites(session, utility))
        if (venID is None or r["venID"] == venID)
        and (resourceName is None or r["resourceName"] == resourceName)
        and _targeted(r, targets)
    ]
    return found[skip : skip + limit]


@router.get("/vens/{ven_id}/resources")
async def search_ven_resources(
    ven_id: str, utility: Utility, session: Session
) -> list[dict[str, Any]]:
    """The resources of one VEN (3.0.1 path)."""
    await get_ven(ven_id, utility, session)
    return [
        r for r in (_resource(s) for s in await _sites(session, utility)) if r["venID"] == ven_id
    ]


@router.get("/resources/{resource_id}")
async def get_resource(resource_id: str, utility: Utility, session: Session) -> dict[str, Any]:
    """The resource of one of the utility's sites."""
    for site in await _sites(session, utility):
        if RESOURCE_PREFIX + site.id == resource_id:
            return _resource(site)
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"resource {resource_id!r} not found")


@router.get("/notifiers")
async def notifiers(utility: Utility) -> dict[str, Any]:
    """How this VTN notifies subscribers (OpenADR 3.1): webhooks, no MQTT."""
    return {"WEBHOOK": True}
