"""Operators and demand response: the utilities' events, opting a site out of one
(with a reason the utility reads in the event's report), and the webhook calls
to utilities."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, StringConstraints
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from activities.persistence.models import DrEvent, DrOptOut, DrReport, UtilityClient
from activities.persistence.repositories import webhooks
from api.auth import Operator, Viewer
from api.deps import Session
from api.errors import conflict, not_found, unprocessable
from api.openadr3.reports import csv_response, png_response

router = APIRouter(prefix="/demand-response", tags=["demand response"])

log = logging.getLogger(__name__)

NUDGE_TIMEOUT_S = 3.0


async def nudge_sites(request: Request, sites: set[str]) -> None:
    """Wake the targeted sites' planning workflows, so that the next plan (which reads
    the event from the database) comes now rather than at the next tick: best effort,
    bounded; a site without smart charging has no workflow to wake."""

    async def one(site_id: str) -> None:
        try:
            client = await request.app.state.temporal.client()
            await client.get_workflow_handle(f"site:{site_id}").signal("config_changed")
        except Exception as error:  # not running, or Temporal away: the tick plans anyway
            log.debug("site %s not woken for an event: %s", site_id, error)

    await asyncio.gather(
        *(asyncio.wait_for(one(s), NUDGE_TIMEOUT_S) for s in sorted(sites)),
        return_exceptions=True,
    )


class OptOutIn(BaseModel):
    """A site that will not take part in an event, and why."""

    site_id: str
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class OptOutOut(OptOutIn):
    """An opt-out as stored."""

    event_id: str
    created_at: datetime


async def _sites_of(session: Any, event: DrEvent) -> set[str]:
    targets = event.body.get("targets")
    if targets:
        return set(targets)
    client = await session.get(UtilityClient, event.client_id)
    return set(client.sites) if client is not None else set()


@router.get("/events")
async def list_events(session: Session, _: Viewer) -> list[dict[str, Any]]:
    """Every utility's events, by start: the sites each targets and the opt-outs."""
    events = (await session.scalars(select(DrEvent).order_by(DrEvent.starts_at))).all()
    outs = (await session.scalars(select(DrOptOut))).all()
    by_event: dict[str, list[dict[str, str]]] = {}
    for out in outs:
        by_event.setdefault(out.event_id, []).append({"site_id": out.site_id, "reason": out.reason})
    return [
        {
            "event": e.body,
            "client_id": e.client_id,
            "sites": sorted(await _sites_of(session, e)),
            "opt_outs": by_event.get(e.id, []),
        }
        for e in events
    ]


@router.post("/events/{event_id}/opt-outs", status_code=status.HTTP_201_CREATED)
async def opt_out(
    event_id: str, body: OptOutIn, request: Request, session: Session, _: Operator
) -> OptOutOut:
    """Take a site out of an event: its plans no longer keep to the event's limits or
    prices (it plans again now), and the event's report says so, with the reason."""
    event = await session.get(DrEvent, event_id)
    if event is None:
        raise not_found("event", event_id)
    if body.site_id not in await _sites_of(session, event):
        raise unprocessable(f"site {body.site_id} is not targeted by event {event_id}")
    row = DrOptOut(event_id=event_id, site_id=body.site_id, reason=body.reason)
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        raise conflict("opt-out of site", body.site_id) from None
    await nudge_sites(request, {body.site_id})
    return OptOutOut(
        event_id=event_id, site_id=row.site_id, reason=row.reason, created_at=row.created_at
    )


@router.get("/deliveries")
async def list_deliveries(
    session: Session,
    _: Viewer,
    client_id: str | None = None,
    state: Annotated[
        Literal["pending", "delivered", "failed"] | None, Query(alias="status")
    ] = None,
    skip: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """The webhook calls to utilities' subscribers, newest first: status, attempts,
    the last answer or error (of one utility, or in one status)."""
    rows = await webhooks.search(session, client_id=client_id, status=state, skip=skip, limit=limit)
    return [{**webhooks.served(row), "clientID": row.client_id} for row in rows]


async def _report(session: Any, report_id: str) -> DrReport:
    report = await session.get(DrReport, report_id)
    if report is None:
        raise not_found("report", report_id)
    return report


@router.get("/reports")
async def list_reports(
    session: Session, _: Viewer, event_id: str | None = None
) -> list[dict[str, Any]]:
    """Every utility's compliance reports, newest first (of one event)."""
    query = select(DrReport).order_by(DrReport.created_at.desc(), DrReport.id)
    if event_id is not None:
        query = query.where(DrReport.event_id == event_id)
    return [{"client_id": r.client_id, "report": r.body} for r in await session.scalars(query)]


@router.get("/reports/{report_id}")
async def get_report(report_id: str, session: Session, _: Viewer) -> dict[str, Any]:
    """One compliance report, as its utility reads it."""
    return (await _report(session, report_id)).body


@router.get("/reports/{report_id}/csv", response_class=PlainTextResponse)
async def get_report_csv(report_id: str, session: Session, _: Viewer) -> Response:
    """A compliance report as CSV: a row per site and interval."""
    return csv_response(await _report(session, report_id))


@router.get("/reports/{report_id}/png", response_class=Response)
async def get_report_png(report_id: str, session: Session, _: Viewer) -> Response:
    """A compliance report as a PNG chart: demand against the limit and baselines."""
    return await png_response(await _report(session, report_id))
