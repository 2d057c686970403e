"""Charge detail records: priced line by line, listed, exported as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from activities.persistence.database import Database
from activities.persistence.models import ChargeDetailRecordRow
from activities.persistence.repositories import cdrs
from api.auth import Viewer
from api.deps import DatabaseDep, IdInPath, Session
from api.errors import not_found
from api.schemas import CdrOut, UtcDateTime

router = APIRouter(prefix="/cdrs", tags=["cdrs"])

Text = Annotated[str | None, Query(min_length=1, max_length=255)]


def _filter(
    station_id: Text = None,
    site_id: Text = None,
    id_token: Text = None,
    tariff_id: Text = None,
    account_id: Text = None,
    stopped_after: UtcDateTime | None = None,
    stopped_before: UtcDateTime | None = None,
) -> cdrs.CdrFilter:
    """The CDR filters of the query string (each optional)."""
    return cdrs.CdrFilter(
        station_id=station_id,
        site_id=site_id,
        id_token=id_token,
        tariff_id=tariff_id,
        account_id=account_id,
        stopped_after=stopped_after,
        stopped_before=stopped_before,
    )


Filters = Annotated[cdrs.CdrFilter, Depends(_filter)]


@router.get("")
async def list_cdrs(
    session: Session,
    _: Viewer,
    where: Filters,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**63 - 1),
) -> list[CdrOut]:
    """CDRs with their cost lines, newest first."""
    rows = await cdrs.list_cdrs(session, where, limit=limit, offset=offset)
    return [CdrOut.model_validate(r) for r in rows]


CSV_COLUMNS = (
    "id",
    "transaction_id",
    "station_id",
    "site_id",
    "evse_id",
    "id_token",
    "account_id",
    "customer_group",
    "started_at",
    "stopped_at",
    "energy_kwh",
    "time_h",
    "parking_time_h",
    "currency",
    "energy_cost_excl_vat",
    "time_cost_excl_vat",
    "parking_cost_excl_vat",
    "fixed_cost_excl_vat",
    "total_excl_vat",
    "total_vat",
    "total_incl_vat",
    "tariff_id",
    "tariff_version",
)


def csv_row(row: ChargeDetailRecordRow) -> list[Any]:
    """One CDR as a line of the CSV export (amounts exact, as stored)."""
    totals = row.totals or {}

    def cost(name: str) -> str:
        value = totals.get(name)
        return str(value["excl_vat"]) if isinstance(value, dict) else ""

    return [
        row.id,
        row.transaction_ref,
        row.station_id,
        row.site_id or "",
        row.evse_id,
        row.id_token or "",
        row.account_id or "",
        row.customer_group or "",
        row.started_at.isoformat(),
        row.stopped_at.isoformat(),
        totals.get("total_energy", f"{row.energy_wh / 1000:.6f}"),
        totals.get("total_time", ""),
        totals.get("total_parking_time", ""),
        row.currency,
        cost("total_energy_cost"),
        cost("total_time_cost"),
        cost("total_parking_cost"),
        cost("total_fixed_cost"),
        row.total_excl_vat if row.total_excl_vat is not None else row.total_cost,
        row.total_vat if row.total_vat is not None else 0,
        row.total_cost,
        row.tariff_id or "",
        row.tariff_version or "",
    ]


async def _csv(db: Database, where: cdrs.CdrFilter) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    async with db.sessions() as session:
        async for page in cdrs.iter_cdrs(session, where):
            for row in page:
                writer.writerow(csv_row(row))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "one line per CDR"}},
)
async def export_cdrs(db: DatabaseDep, _: Viewer, where: Filters) -> StreamingResponse:
    """Every CDR the filters take, oldest first, as CSV (streamed: any number of them)."""
    return StreamingResponse(
        _csv(db, where),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="cdrs.csv"'},
    )


@router.get("/{cdr_id}")
async def get_cdr(cdr_id: IdInPath, session: Session, _: Viewer) -> CdrOut:
    """One CDR, with its cost lines and the tariff version that priced it."""
    row = await cdrs.get_cdr(session, cdr_id)
    if row is None:
        raise not_found("cdr", cdr_id)
    return CdrOut.model_validate(row)
