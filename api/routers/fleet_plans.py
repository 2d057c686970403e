"""Fleet charging plans for depot managers: request, read (JSON or PNG), apply."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import update
from temporalio.converter import value_to_type
from temporalio.service import RPCError

from activities import plan_previews
from activities.charts import load_chart
from activities.persistence.models import FleetPlanRow, SiteCharging
from activities.smart_charging import slot_start
from api.auth import DepotManager, DepotViewer
from api.commands import temporal_client
from api.deps import Session
from api.errors import not_found, unprocessable
from api.schemas import UtcDateTime
from workflows.site_charging import SiteChargingWorkflow, site_workflow_id
from workflows.smart_charging import SiteChargingConfig

router = APIRouter(prefix="/sites/{site_id}/fleet-plans", tags=["fleet plans"])


class FleetVehicleIn(BaseModel):
    """A vehicle of the fleet: battery, state of charge now and at departure, its stay."""

    id: str = Field(min_length=1, max_length=64)
    battery_kwh: float = Field(gt=0, le=2000)
    soc_now: float = Field(ge=0, le=1)
    soc_departure: float = Field(ge=0, le=1)
    arrival: UtcDateTime
    departure: UtcDateTime
    max_ac_kw: float = Field(11.0, ge=0, le=350)
    max_dc_kw: float = Field(0.0, ge=0, le=1000)
    charger: str | None = Field(None, description="a fixed charging point, station#evse")

    @model_validator(mode="after")
    def _stay(self) -> FleetVehicleIn:
        if self.departure <= self.arrival:
            raise ValueError("departure must come after arrival")
        return self


class FleetPlanIn(BaseModel):
    """The vehicles to plan for, over which period."""

    vehicles: list[FleetVehicleIn] = Field(min_length=1, max_length=5000)
    start: UtcDateTime | None = Field(None, description="default: the current slot")
    hours: int = Field(24, ge=1, le=48)
    apply: bool = Field(False, description="use the plan's needs for arriving vehicles")


@router.post("")
async def request_plan(
    site_id: str, body: FleetPlanIn, request: Request, session: Session, _: DepotManager
) -> dict[str, Any]:
    """Plan the fleet's charging on the site's chargers and tariff: each vehicle's
    schedule, cost and peak, against charging on arrival. ``apply`` hands the
    vehicles' needs to the site's smart charging."""
    row = await session.get(SiteCharging, site_id)
    if row is None:
        raise unprocessable("the site has no smart-charging configuration")
    config = value_to_type(SiteChargingConfig, row.config)
    start = body.start or slot_start(datetime.now(UTC), config.slot_minutes)
    vehicles = [v.model_dump() for v in body.vehicles]
    # Give the connection back during the solve (SQLite has one, shared with the
    # gateway); the results are written in a fresh transaction.
    await session.close()
    try:
        computed, needs = await asyncio.to_thread(
            plan_previews.fleet_plan, config, vehicles, start, body.hours
        )
    except ValueError as exc:
        raise unprocessable(str(exc)) from None
    result: dict[str, Any] = {
        "plan_id": uuid.uuid4().hex,
        "site_id": site_id,
        **computed,
        "applied": body.apply,
    }
    session.add(
        FleetPlanRow(
            id=result["plan_id"],
            site_id=site_id,
            request=body.model_dump(mode="json"),
            result=result,
            applied=body.apply,
        )
    )
    if body.apply:
        await session.execute(
            update(SiteCharging).where(SiteCharging.site_id == site_id).values(fleet_needs=needs)
        )
    await session.commit()
    await session.close()
    if body.apply:
        client = await temporal_client(request.app.state.temporal)
        with contextlib.suppress(RPCError):  # not running: it reads the needs when it starts
            await client.get_workflow_handle(site_workflow_id(site_id)).signal(
                SiteChargingWorkflow.config_changed
            )
    return result


async def _plan(session: Any, site_id: str, plan_id: str) -> FleetPlanRow:
    row = await session.get(FleetPlanRow, plan_id)
    if row is None or row.site_id != site_id:
        raise not_found("fleet plan", plan_id)
    return row


@router.get("/{plan_id}")
async def get_plan(site_id: str, plan_id: str, session: Session, _: DepotViewer) -> dict[str, Any]:
    """A plan's result."""
    return (await _plan(session, site_id, plan_id)).result


@router.get("/{plan_id}/chart.png", response_class=Response)
async def plan_chart(site_id: str, plan_id: str, session: Session, _: DepotViewer) -> Response:
    """The plan's site load against the site limit and charging on arrival, with prices."""
    result = (await _plan(session, site_id, plan_id)).result
    png = await asyncio.to_thread(
        load_chart,
        datetime.fromisoformat(result["start"]),
        result["slot_minutes"],
        result["site_load_kw"],
        result["site_limit_kw"],
        result["price_per_kwh"],
        on_arrival_kw=result["on_arrival_load_kw"],
        title=f"Fleet plan {plan_id[:8]} at {site_id}: saves {result['saving']:.0%}",
    )
    return Response(png, media_type="image/png")
