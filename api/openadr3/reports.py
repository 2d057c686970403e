"""OpenADR 3 reports: the compliance of each ended event, for its utility to read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select

from activities.persistence.models import DrReport
from api.deps import Session
from api.openadr3.auth import Utility
from api.openadr3.programs import Limit, Skip

router = APIRouter(prefix="/reports", tags=["openadr3"])


@router.get("")
async def search_reports(
    utility: Utility,
    session: Session,
    programID: str | None = None,
    eventID: str | None = None,
    clientName: str | None = None,
    skip: Skip = 0,
    limit: Limit = 50,
) -> list[dict[str, Any]]:
    """The utility's reports (per site and interval: demand, the limit, data quality)."""
    query = select(DrReport).where(DrReport.client_id == utility.client_id)
    if programID is not None:
        query = query.where(DrReport.program_id == programID)
    if eventID is not None:
        query = query.where(DrReport.event_id == eventID)
    rows = await session.scalars(
        query.order_by(DrReport.created_at, DrReport.id).offset(skip).limit(limit)
    )
    return [
        row.body for row in rows if clientName is None or row.body.get("clientName") == clientName
    ]


@router.get("/{report_id}")
async def get_report(report_id: str, utility: Utility, session: Session) -> dict[str, Any]:
    """One of the utility's reports."""
    report = await session.get(DrReport, report_id)
    if report is None or report.client_id != utility.client_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report {report_id!r} not found")
    return report.body
