"""Smart charging of a site: its configuration, its live schedule, and "what if" plans."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.converter import value_to_type
from temporalio.service import RPCError

from activities import plan_previews
from activities.persistence.models import SiteCharging, Station
from activities.persistence.repositories import sites
from activities.persistence.repositories import tariffs as tariff_rows
from activities.persistence.types import to_json
from activities.smart_charging import check_prices, tariff_prices
from api.auth import DepotManager, DepotViewer
from api.commands import temporal_client
from api.deps import Session, Temporal
from api.errors import not_found, unprocessable
from api.schemas import UtcDateTime
from workflows import search_attributes as sa
from workflows.site_charging import SiteChargingWorkflow, SiteState, site_workflow_id
from workflows.smart_charging import SiteChargingConfig

router = APIRouter(prefix="/sites/{site_id}", tags=["smart charging"])


class SmartChargingOut(BaseModel):
    """A site's smart-charging configuration and state."""

    site_id: str
    enabled: bool
    config: dict[str, Any]
    workflow_id: str
    planned_at: datetime | None


def _check_tree(config: SiteChargingConfig) -> None:
    """422 unless the prices cover the day and the circuits form one tree the chargers hang on."""
    try:
        check_prices(config)
    except ValueError as exc:
        raise unprocessable(f"prices: {exc}") from None
    circuits = {c.id for c in config.circuits}
    for circuit in config.circuits:
        if circuit.parent is not None and circuit.parent not in circuits:
            raise unprocessable(f"circuit {circuit.id}: unknown parent {circuit.parent}")
    for charger in config.chargers:
        if charger.circuit is not None and charger.circuit not in circuits:
            raise unprocessable(f"charger {charger.station_id}: unknown circuit {charger.circuit}")


@router.put("/smart-charging")
async def configure(
    site_id: str, body: SiteChargingConfig, request: Request, session: Session, _: DepotManager
) -> SmartChargingOut:
    """Set the site's capacity tree, chargers and tariff, and (re)start its planning
    workflow (``site:{id}``), which re-plans at once."""
    if await sites.get_site(session, site_id) is None:
        raise not_found("site", site_id)
    if body.tariff_id is not None:
        # The plan's prices are the tariff's energy prices by time of day.
        tariff = await tariff_rows.latest(session, body.tariff_id)
        if tariff is None:
            raise unprocessable(f"tariff_id: no tariff {body.tariff_id!r}")
        try:
            body = tariff_prices(body, tariff_rows.as_tariff(tariff))
        except ValueError as exc:
            raise unprocessable(f"tariff_id: {exc}") from None
    _check_tree(body)
    station_ids = {c.station_id for c in body.chargers}
    # Only the site's own stations; "not at this site" is the answer whether the
    # station is elsewhere or nowhere, so the error reveals nothing about other sites.
    known = set(
        (
            await session.scalars(
                select(Station.id).where(Station.id.in_(station_ids), Station.site_id == site_id)
            )
        ).all()
    )
    if station_ids - known:
        raise unprocessable(
            f"stations not at site {site_id}: {', '.join(sorted(station_ids - known))}"
        )
    row = await session.get(SiteCharging, site_id)
    config = to_json(body)
    if row is None:
        row = SiteCharging(site_id=site_id, config=config, enabled=True)
        session.add(row)
    else:
        row.config, row.enabled, row.updated_at = config, True, datetime.now(UTC)
    await session.commit()
    planned_at = row.planned_at
    await session.close()
    client = await temporal_client(request.app.state.temporal)
    await client.start_workflow(
        SiteChargingWorkflow.run,
        # Who is present is read from the database at each plan ("derived-state").
        SiteState(site_id),
        id=site_workflow_id(site_id),
        task_queue=request.app.state.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal="config_changed",
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.SITE_ID, site_id)]),
        static_summary=f"Smart charging of site {site_id}",
    )
    return SmartChargingOut(
        site_id=site_id,
        enabled=True,
        config=config,
        workflow_id=site_workflow_id(site_id),
        planned_at=planned_at,
    )


@router.get("/smart-charging")
async def configuration(site_id: str, session: Session, _: DepotViewer) -> SmartChargingOut:
    """The site's smart-charging configuration."""
    row = await session.get(SiteCharging, site_id)
    if row is None:
        raise not_found("smart-charging configuration of site", site_id)
    return SmartChargingOut(
        site_id=site_id,
        enabled=row.enabled,
        config=row.config,
        workflow_id=site_workflow_id(site_id),
        planned_at=row.planned_at,
    )


@router.delete("/smart-charging")
async def switch_off(
    site_id: str, request: Request, session: Session, _: DepotManager
) -> dict[str, str]:
    """Stop smart-charging the site: its workflow clears the profiles it set and ends."""
    row = await session.get(SiteCharging, site_id)
    if row is None:
        raise not_found("smart-charging configuration of site", site_id)
    row.enabled = False
    await session.commit()
    await session.close()
    client = await temporal_client(request.app.state.temporal)
    with contextlib.suppress(RPCError):  # not running: nothing to stop
        await client.get_workflow_handle(site_workflow_id(site_id)).signal(
            SiteChargingWorkflow.switch_off
        )
    return {"site_id": site_id, "smart_charging": "off"}


@router.get("/schedule")
async def schedule(
    site_id: str, session: Session, temporal: Temporal, _: DepotViewer
) -> dict[str, Any]:
    """The live plan: per vehicle the planned kW per slot from ``planned_at``, the site's
    limit and prices per slot, cost, peak and shortfalls."""
    row = await session.get(SiteCharging, site_id)
    if row is None:
        raise not_found("smart-charging configuration of site", site_id)
    stored = row.last_plan
    await session.close()
    client = await temporal_client(temporal)
    try:
        live = await client.get_workflow_handle(site_workflow_id(site_id)).query(
            SiteChargingWorkflow.schedule
        )
    except RPCError:
        live = None
    if live is not None:
        plan = to_json(live)
        plan.pop("requests", None)
        return plan
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no plan yet")
    return stored


class WhatIfVehicle(BaseModel):
    """A vehicle to plan for: where it plugs in, what it needs, when it leaves."""

    station_id: str
    evse_id: int = 1
    energy_kwh: float = Field(ge=0, le=1000)
    departure: UtcDateTime


class WhatIfIn(BaseModel):
    """Vehicles, and optionally a configuration to try instead of the site's."""

    vehicles: list[WhatIfVehicle] = Field(min_length=1, max_length=5000)
    config: SiteChargingConfig | None = None


@router.post("/what-if")
async def what_if(site_id: str, body: WhatIfIn, session: Session, _: DepotViewer) -> dict[str, Any]:
    """Solve the site's schedule for these vehicles now, without applying it."""
    row = await session.get(SiteCharging, site_id)
    if body.config is None and row is None:
        raise unprocessable("the site has no smart-charging configuration: send one")
    await session.close()
    config = body.config or value_to_type(SiteChargingConfig, row.config)  # type: ignore[union-attr]
    if body.config is not None:
        _check_tree(body.config)
    vehicles = [(v.station_id, v.evse_id, v.energy_kwh, v.departure) for v in body.vehicles]
    try:
        return await asyncio.to_thread(plan_previews.what_if, config, vehicles, datetime.now(UTC))
    except ValueError as exc:  # e.g. a circuit loop the checks above cannot see
        raise unprocessable(str(exc)) from None
