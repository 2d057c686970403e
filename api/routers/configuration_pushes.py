"""One configuration change for many stations, as a ``ConfigurationPush`` workflow."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field, model_validator
from temporalio.service import RPCError

from activities.persistence.repositories import stations
from api.auth import Operator, Viewer
from api.commands import temporal_client
from api.deps import Session, Temporal
from api.errors import not_found, unprocessable
from workflows.commands import ChangeConfiguration
from workflows.configuration_push import (
    MAX_STATIONS,
    ConfigurationPush,
    ConfigurationPushWorkflow,
    PushProgress,
    push_workflow_id,
)

router = APIRouter(prefix="/configuration-pushes", tags=["commands"])


class PushIn(BaseModel):
    """The change, and the stations: a list, a site's, or both (their intersection)."""

    key: str = Field(min_length=1, max_length=100, description="1.6 key")
    value: str = Field(max_length=1000)
    key_2x: str | None = Field(
        None, max_length=100, description="Component.Variable for 2.x stations"
    )
    station_ids: list[str] | None = Field(None, min_length=1, max_length=MAX_STATIONS)
    site_id: str | None = None
    timeout_s: float = Field(30.0, gt=0, le=300)

    @model_validator(mode="after")
    def _targets(self) -> PushIn:
        if self.station_ids is None and self.site_id is None:
            raise ValueError("name station_ids, a site_id, or both")
        return self


class PushAccepted(BaseModel):
    """A push under way."""

    push_id: str
    workflow_id: str
    total: int


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def push_configuration(
    body: PushIn, request: Request, session: Session, _: Operator
) -> PushAccepted:
    """Start pushing; follow it at ``GET /configuration-pushes/{push_id}`` or in the
    Temporal UI (``config-push:{push_id}``)."""
    targets = await stations.existing_ids(
        session, station_ids=body.station_ids, site_id=body.site_id
    )
    await session.close()
    if body.station_ids is not None and body.site_id is None:
        unknown = sorted(set(body.station_ids) - set(targets))
        if unknown:
            raise unprocessable(f"unknown stations: {', '.join(unknown[:10])}")
    if not targets:
        raise unprocessable("no station matches")
    if len(targets) > MAX_STATIONS:
        raise unprocessable(f"at most {MAX_STATIONS} stations per push")
    push_id = uuid.uuid4().hex[:16]
    client = await temporal_client(request.app.state.temporal)
    await client.start_workflow(
        ConfigurationPushWorkflow.run,
        ConfigurationPush(
            push_id=push_id,
            station_ids=targets,
            change=ChangeConfiguration(key=body.key, value=body.value, key_2x=body.key_2x),
            timeout_s=body.timeout_s,
        ),
        id=push_workflow_id(push_id),
        task_queue=request.app.state.task_queue,
        static_summary=f"Set {body.key} = {body.value} on {len(targets)} stations",
    )
    return PushAccepted(push_id=push_id, workflow_id=push_workflow_id(push_id), total=len(targets))


@router.get("/{push_id}")
async def push_progress(push_id: str, temporal: Temporal, _: Viewer) -> PushProgress:
    """Answers so far: counts by status and each station's outcome."""
    client = await temporal_client(temporal)
    try:
        return await client.get_workflow_handle(push_workflow_id(push_id)).query(
            ConfigurationPushWorkflow.progress
        )
    except RPCError as exc:
        if "not found" in str(exc).lower():
            raise not_found("configuration push", push_id) from None
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"Temporal: {exc}") from None
