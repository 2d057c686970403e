"""OpenADR 3 reports: the compliance of each ended event, for its utility to read
(also as CSV and as a PNG chart)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from fastapi.responses import PlainTextResponse
from sqlalchemy import select

from activities.charts import compliance_chart
from activities.compliance import report_csv
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
    """The utility's reports (per site and interval: usage, demand, the limit, the
    baselines, the delta, data quality)."""
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


async def _own(session: Any, utility: Utility, report_id: str) -> DrReport:
    report = await session.get(DrReport, report_id)
    if report is None or report.client_id != utility.client_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"report {report_id!r} not found")
    return report


@router.get("/{report_id}")
async def get_report(report_id: str, utility: Utility, session: Session) -> dict[str, Any]:
    """One of the utility's reports."""
    return (await _own(session, utility, report_id)).body


@router.get("/{report_id}/csv", response_class=PlainTextResponse)
async def get_report_csv(report_id: str, utility: Utility, session: Session) -> Response:
    """One of the utility's reports as CSV (this VTN's addition): a row per site and
    interval with usage, demand, limit, both baselines, delta, quality, verdict."""
    return csv_response(await _own(session, utility, report_id))


@router.get("/{report_id}/png", response_class=Response)
async def get_report_png(report_id: str, utility: Utility, session: Session) -> Response:
    """One of the utility's reports as a PNG chart (this VTN's addition): per site,
    demand against the limit and the baselines."""
    return await png_response(await _own(session, utility, report_id))


def csv_response(report: DrReport) -> Response:
    """A report as a CSV download."""
    return Response(
        report_csv(report.body),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="report-{report.id}.csv"'},
    )


async def png_response(report: DrReport) -> Response:
    """A report's chart (rendered off the event loop)."""
    image = await asyncio.to_thread(compliance_chart, report.body)
    return Response(image, media_type="image/png")
