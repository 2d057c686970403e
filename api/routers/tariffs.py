"""Tariffs: OCPI 2.2.1 Tariff objects, versioned, assigned, and priced on request.

A tariff is written as the OCPI object itself (plus the platform's one extension,
``parking_grace_s``, free parking seconds before PARKING_TIME is billed). Every
change is a new version; versions never change, so each CDR can name the one that
priced it. A tariff still assigned somewhere cannot be deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Body, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from activities.billing.cdr_pricing import cost_line_json
from activities.billing.tariffs import TariffError, parse_tariff
from activities.billing.timeline import Activity, SessionTimeline, StatusChange, price_session
from activities.persistence.models import TariffAssignment, TariffVersion
from activities.persistence.repositories import sites
from activities.persistence.repositories import tariffs as tariff_rows
from api.auth import Operator, Viewer
from api.deps import IdInPath, Session
from api.errors import not_found, unprocessable
from api.schemas import CostLineOut, UtcDateTime

router = APIRouter(prefix="/tariffs", tags=["tariffs"])

TariffId = Annotated[str, Path(min_length=1, max_length=36, description="the OCPI tariff id")]
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="a tariff version")]
CustomerGroup = Literal["public", "fleet", "residents", "employees"]
OcpiTariff = Annotated[
    dict[str, Any],
    Body(
        description="an OCPI 2.2.1 Tariff object; `parking_grace_s` (seconds of free parking) "
        "is the platform's extension",
        examples=[
            {
                "id": "AC-PUBLIC",
                "currency": "EUR",
                "elements": [
                    {"price_components": [{"type": "FLAT", "price": 0.5, "step_size": 1}]},
                    {
                        "price_components": [
                            {"type": "ENERGY", "price": 0.39, "vat": 21, "step_size": 1},
                            {"type": "PARKING_TIME", "price": 6, "vat": 21, "step_size": 60},
                        ]
                    },
                ],
                "parking_grace_s": 3600,
            }
        ],
    ),
]


class TariffOut(BaseModel):
    """One version of a tariff."""

    id: str
    version: int
    currency: str
    parking_grace_s: int
    created_at: datetime
    deleted: bool
    tariff: dict[str, Any] = Field(description="the OCPI 2.2.1 Tariff object")

    @classmethod
    def of(cls, row: TariffVersion) -> TariffOut:
        """The answer for a stored version."""
        return cls(
            id=row.tariff_id,
            version=row.version,
            currency=row.currency,
            parking_grace_s=row.parking_grace_s,
            created_at=row.created_at,
            deleted=row.deleted_at is not None,
            tariff=row.body,
        )


class AssignmentIn(BaseModel):
    """Where a tariff prices sessions: a site, one of its stations, or one EVSE."""

    site_id: str = Field(min_length=1, max_length=64)
    station_id: str | None = Field(None, min_length=1, max_length=64)
    evse_id: int | None = Field(None, ge=1, le=2**31 - 1)
    customer_group: CustomerGroup = "public"


class AssignmentOut(BaseModel):
    """A tariff's assignment."""

    id: int
    tariff_id: str
    site_id: str
    station_id: str | None
    evse_id: int | None
    customer_group: str

    @classmethod
    def of(cls, row: TariffAssignment) -> AssignmentOut:
        """The answer for a stored assignment."""
        return cls(
            id=row.id,
            tariff_id=row.tariff_id,
            site_id=row.site_id,
            station_id=row.station_id or None,
            evse_id=row.evse_id or None,
            customer_group=row.customer_group,
        )


class PreviewIn(BaseModel):
    """A hypothetical session: charging at an even pace, then parked."""

    start: UtcDateTime
    charging_minutes: float = Field(gt=0, le=7 * 24 * 60)
    energy_kwh: Decimal = Field(ge=0, le=10_000, max_digits=12, decimal_places=6)
    parking_minutes: float = Field(0, ge=0, le=7 * 24 * 60)
    time_zone: str = Field("UTC", max_length=64, description="the site's IANA time zone")
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="default: the newest")


class PeriodOut(BaseModel):
    """An OCPI-style charging period."""

    start_date_time: datetime
    end_date_time: datetime
    dimensions: dict[str, Decimal]


class PreviewOut(BaseModel):
    """What the session would cost under one version of the tariff."""

    tariff_id: str
    version: int
    totals: dict[str, Any] = Field(description="the totals in an OCPI CDR's shape")
    lines: list[CostLineOut]
    charging_periods: list[PeriodOut]
    notes: list[str]


def _parse(body: dict[str, Any]) -> Any:
    data = dict(body)
    grace = data.pop("parking_grace_s", 0)
    if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= 7 * 86400:
        raise unprocessable("parking_grace_s: whole seconds from 0 to a week", where="body")
    try:
        return parse_tariff(data, parking_grace_s=grace)
    except TariffError as error:
        raise unprocessable(str(error), where="body") from None


@router.get("")
async def list_tariffs(
    session: Session,
    _: Viewer,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**31 - 1),
) -> list[TariffOut]:
    """The newest version of each tariff that is not deleted."""
    rows = await tariff_rows.list_latest(session, limit=limit, offset=offset)
    return [TariffOut.of(row) for row in rows]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_tariff(body: OcpiTariff, session: Session, _: Operator) -> TariffOut:
    """Create a tariff (version 1); 422 with the field and reason if it cannot be priced,
    409 if its id was ever used."""
    tariff = _parse(body)
    if await tariff_rows.exists(session, tariff.id):
        raise HTTPException(status.HTTP_409_CONFLICT, f"tariff {tariff.id!r} already exists")
    try:
        row = await tariff_rows.add_version(session, tariff)
        await session.commit()
    except IntegrityError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"tariff {tariff.id!r} already exists"
        ) from None
    return TariffOut.of(row)


@router.get("/{tariff_id}")
async def get_tariff(tariff_id: TariffId, session: Session, _: Viewer) -> TariffOut:
    """A tariff's newest version; 404 if unknown or deleted."""
    row = await tariff_rows.latest(session, tariff_id)
    if row is None:
        raise not_found("tariff", tariff_id)
    return TariffOut.of(row)


@router.put("/{tariff_id}")
async def change_tariff(
    tariff_id: TariffId, body: OcpiTariff, session: Session, _: Operator
) -> TariffOut:
    """Write the tariff's next version (sessions already priced keep theirs)."""
    tariff = _parse(body)
    if tariff.id != tariff_id:
        raise unprocessable(f"id: the body's id {tariff.id!r} is not {tariff_id!r}")
    if await tariff_rows.latest(session, tariff_id) is None:
        raise not_found("tariff", tariff_id)
    try:
        row = await tariff_rows.add_version(session, tariff)
        await session.commit()
    except IntegrityError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"tariff {tariff_id!r} changed at the same time: retry"
        ) from None
    return TariffOut.of(row)


@router.delete("/{tariff_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_tariff(tariff_id: TariffId, session: Session, _: Operator) -> Response:
    """Delete a tariff (its versions stay readable for the CDRs they priced); 409 while
    it is assigned anywhere."""
    if await tariff_rows.latest(session, tariff_id) is None:
        raise not_found("tariff", tariff_id)
    try:
        await tariff_rows.delete(session, tariff_id)
    except tariff_rows.TariffInUse as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{tariff_id}/versions")
async def list_versions(tariff_id: TariffId, session: Session, _: Viewer) -> list[TariffOut]:
    """Every version, oldest first (a deleted tariff's too)."""
    rows = await tariff_rows.versions(session, tariff_id)
    if not rows:
        raise not_found("tariff", tariff_id)
    return [TariffOut.of(row) for row in rows]


@router.get("/{tariff_id}/versions/{version}")
async def get_version(
    tariff_id: TariffId, version: Version, session: Session, _: Viewer
) -> TariffOut:
    """One version."""
    row = await tariff_rows.get_version(session, tariff_id, version)
    if row is None:
        raise not_found("tariff version", f"{tariff_id} v{version}")
    return TariffOut.of(row)


@router.post("/{tariff_id}/preview")
async def preview(tariff_id: TariffId, body: PreviewIn, session: Session, _: Viewer) -> PreviewOut:
    """What a hypothetical session would cost: lines, periods and CDR totals."""
    if body.version is None:
        row = await tariff_rows.latest(session, tariff_id)
    else:
        row = await tariff_rows.get_version(session, tariff_id, body.version)
    if row is None:
        raise not_found("tariff", tariff_id)
    if not 1970 <= body.start.year <= 9000:
        raise unprocessable("start: not a plausible session time")
    try:
        ZoneInfo(body.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise unprocessable(f"time_zone: {body.time_zone!r} is not an IANA time zone") from None
    charged = body.start + timedelta(minutes=body.charging_minutes)
    stop = charged + timedelta(minutes=body.parking_minutes)
    statuses = [StatusChange(charged, Activity.PARKING)] if body.parking_minutes else []
    try:
        stored = tariff_rows.as_tariff(row)
    except TariffError as error:
        # A version stored before a rule it now breaks (or changed outside the API):
        # it cannot price anything, which is the tariff's state, not the request's fault.
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"tariff {tariff_id!r} version {row.version} cannot be priced: {error}",
        ) from None
    priced = price_session(
        stored,
        SessionTimeline(
            start=body.start,
            stop=stop,
            meter_start_wh=Decimal(0),
            meter_stop_wh=body.energy_kwh * 1000,
            statuses=statuses,
            time_zone=body.time_zone,
        ),
    )
    return PreviewOut(
        tariff_id=row.tariff_id,
        version=row.version,
        totals=priced.cdr_totals(),
        lines=[CostLineOut.model_validate(cost_line_json(line)) for line in priced.lines],
        charging_periods=[
            PeriodOut(start_date_time=p.start, end_date_time=p.end, dimensions=p.dimensions)
            for p in priced.periods
        ],
        notes=list(priced.notes),
    )


@router.get("/{tariff_id}/assignments")
async def list_assignments(tariff_id: TariffId, session: Session, _: Viewer) -> list[AssignmentOut]:
    """Where the tariff prices sessions."""
    return [AssignmentOut.of(row) for row in await tariff_rows.assignments(session, tariff_id)]


@router.post("/{tariff_id}/assignments", status_code=status.HTTP_201_CREATED)
async def assign(
    tariff_id: TariffId, body: AssignmentIn, session: Session, _: Operator
) -> AssignmentOut:
    """Price sessions at a site, station or EVSE, for a customer group, with this tariff;
    409 if that place and group already have a tariff."""
    if await tariff_rows.latest(session, tariff_id) is None:
        raise not_found("tariff", tariff_id)
    if await sites.get_site(session, body.site_id) is None:
        raise unprocessable(f"site_id: site {body.site_id!r} does not exist")
    if body.evse_id is not None and body.station_id is None:
        raise unprocessable("evse_id: an EVSE is named within a station (give station_id)")
    try:
        row = await tariff_rows.assign(
            session,
            tariff_id,
            body.site_id,
            station_id=body.station_id or "",
            evse_id=body.evse_id or 0,
            customer_group=body.customer_group,
        )
        await session.commit()
    except IntegrityError:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "that place already has a tariff for this customer group: delete its assignment",
        ) from None
    return AssignmentOut.of(row)


@router.delete("/{tariff_id}/assignments/{assignment_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unassign(
    tariff_id: TariffId, assignment_id: IdInPath, session: Session, _: Operator
) -> Response:
    """Stop pricing sessions there with this tariff."""
    row = await tariff_rows.get_assignment(session, assignment_id)
    if row is None or row.tariff_id != tariff_id:
        raise not_found("assignment", assignment_id)
    await session.delete(row)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
