"""Station health for operators: judged health, liveness history, connector status
periods with availability and uptime, and the fault classification rule table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select

from activities import availability
from activities.fault_rules import BUILT_IN, Rule
from activities.persistence.models import FaultRule, Station
from activities.persistence.repositories import liveness, status_history
from activities.persistence.types import to_json
from api.auth import Operator, Viewer
from api.commands import temporal_client
from api.deps import Session
from api.errors import not_found, unprocessable
from api.schemas import UtcDateTime
from workflows.health import (
    PLAYBOOKS,
    FaultClass,
    HealthView,
    Severity,
    health_workflow_id,
)
from workflows.station_health import StationHealthWorkflow

router = APIRouter(tags=["station health"])

MAX_WINDOW = timedelta(days=400)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LivenessChangeOut(BaseModel):
    """One liveness transition and its cause."""

    model_config = ConfigDict(from_attributes=True)

    at: UtcDateTime
    state: str
    previous: str | None
    cause: str | None
    node_id: str


class HealthOut(BaseModel):
    """A station's health: as judged (kept on the row) and, when its workflow runs,
    what the workflow is doing now."""

    station_id: str
    health: str | None
    health_at: UtcDateTime | None
    reason: str | None
    liveness: str | None
    liveness_at: UtcDateTime | None
    workflow_id: str
    live: dict[str, Any] | None = Field(
        None, description="the health workflow's own view (faults, next steps, resets)"
    )


@router.get("/stations/{station_id}/health")
async def station_health(
    station_id: str, session: Session, request: Request, _: Viewer
) -> HealthOut:
    """The station's health, and its workflow's current view when it can be asked."""
    station = await session.get(Station, station_id)
    if station is None:
        raise not_found("station", station_id)
    live: dict[str, Any] | None = None
    try:
        client = await temporal_client(request.app.state.temporal)
        view: HealthView = await client.get_workflow_handle(health_workflow_id(station_id)).query(
            StationHealthWorkflow.health
        )
        live = to_json(view)
    except HTTPException:
        live = None  # Temporal away: the stored judgement still answers
    except Exception:
        live = None  # no workflow yet (the station never reported a fact)
    return HealthOut(
        station_id=station_id,
        health=station.health,
        health_at=station.health_at,
        reason=station.health_reason,
        liveness=station.liveness,
        liveness_at=station.liveness_at,
        workflow_id=health_workflow_id(station_id),
        live=live,
    )


@router.get("/stations/{station_id}/liveness")
async def station_liveness(
    station_id: str,
    session: Session,
    _: Viewer,
    since: UtcDateTime | None = None,
    until: UtcDateTime | None = None,
    limit: int = Query(1000, ge=1, le=10_000),
) -> list[LivenessChangeOut]:
    """The station's liveness transitions with their causes, oldest first."""
    if await session.get(Station, station_id) is None:
        raise not_found("station", station_id)
    rows = await liveness.changes(session, station_id, since=since, until=until, limit=limit)
    return [LivenessChangeOut.model_validate(r) for r in rows]


class PeriodOut(BaseModel):
    """A stretch of one status."""

    status: str
    start: UtcDateTime
    end: UtcDateTime
    seconds: float


class ConnectorAvailabilityOut(BaseModel):
    """One connector over the window: its periods, and the shares computed from them."""

    evse_id: int
    connector_id: int
    availability: float = Field(description="share (0..1) usable by a driver")
    uptime: float = Field(description="share (0..1) neither Faulted nor Offline")
    seconds_by_status: dict[str, float]
    periods: list[PeriodOut]


class AvailabilityOut(BaseModel):
    """Every connector of a station over [since, until)."""

    station_id: str
    since: UtcDateTime
    until: UtcDateTime
    connectors: list[ConnectorAvailabilityOut]


@router.get("/stations/{station_id}/availability")
async def station_availability(
    station_id: str,
    session: Session,
    _: Viewer,
    since: UtcDateTime | None = None,
    until: UtcDateTime | None = None,
) -> AvailabilityOut:
    """Status periods of each connector (EVSE 0 is the whole station) and the
    availability and uptime they give, computed from every reported status and the
    station's liveness (offline counts as down). Default window: the last 24 hours."""
    if await session.get(Station, station_id) is None:
        raise not_found("station", station_id)
    end = until or datetime.now(UTC)
    start = since or max(end - timedelta(days=1), EPOCH)
    if start >= end:
        raise unprocessable("since must be before until", where="query")
    if end - start > MAX_WINDOW:
        raise unprocessable(f"the window may span at most {MAX_WINDOW.days} days", where="query")
    reported = await status_history.reports_in(session, station_id, start, end)
    changes = await liveness.changes(session, station_id, until=end, limit=100_000)
    live = [availability.Report(c.at, c.state) for c in changes]
    whole = [availability.Report(r.at, r.state) for r in reported.get((0, 0), [])]
    out = []
    for (evse_id, connector_id), reports in sorted(reported.items()):
        if (evse_id, connector_id) == (0, 0) and len(reported) > 1:
            continue  # folded into every connector
        computed = availability.availability(
            evse_id,
            connector_id,
            [availability.Report(r.at, r.state) for r in reports],
            start,
            end,
            station=whole if (evse_id, connector_id) != (0, 0) else (),
            liveness=live,
        )
        out.append(
            ConnectorAvailabilityOut(
                evse_id=evse_id,
                connector_id=connector_id,
                availability=round(computed.availability, 6),
                uptime=round(computed.uptime, 6),
                seconds_by_status={k: round(v, 3) for k, v in computed.seconds_by_status.items()},
                periods=[
                    PeriodOut(status=p.status, start=p.start, end=p.end, seconds=p.seconds)
                    for p in computed.periods
                ],
            )
        )
    return AvailabilityOut(station_id=station_id, since=start, until=end, connectors=out)


class FaultRuleIn(BaseModel):
    """An operator's classification rule: what it matches (omitted: anything) and what
    it decides. ``vendor_error_code`` may end in ``*`` to match a prefix."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    kind: Literal["status", "event", "symptom", "boot", "liveness"] | None = None
    state: str | None = Field(None, max_length=100)
    error_code: str | None = Field(None, max_length=50)
    vendor_error_code: str | None = Field(None, max_length=50)
    tech_code: str | None = Field(None, max_length=50)
    vendor: str | None = Field(None, max_length=50)
    model: str | None = Field(None, max_length=50)
    fault_class: FaultClass
    severity: Severity
    playbook: str = Field(description="one of the built-in playbooks")
    title: str | None = Field(None, max_length=200)
    priority: int = Field(100, ge=0, le=10_000)

    @model_validator(mode="after")
    def _check(self) -> FaultRuleIn:
        if self.playbook not in PLAYBOOKS:
            raise ValueError(f"unknown playbook {self.playbook!r}; known: {sorted(PLAYBOOKS)}")
        matchers = (
            self.kind,
            self.state,
            self.error_code,
            self.vendor_error_code,
            self.tech_code,
            self.vendor,
            self.model,
        )
        if all(m is None for m in matchers):
            raise ValueError("a rule must match something (set at least one matcher)")
        return self


class FaultRuleOut(FaultRuleIn):
    """A rule of the table: an operator's (with its id) or a built-in one."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")

    id: str | None = None
    built_in: bool = False


def _built_in(rule: Rule) -> FaultRuleOut:
    return FaultRuleOut(
        name=rule.name,
        kind=rule.kind.value if rule.kind else None,
        state=rule.state,
        error_code=rule.error_code,
        vendor_error_code=rule.vendor_error_code,
        tech_code=rule.tech_code,
        vendor=rule.vendor,
        model=rule.model,
        fault_class=rule.fault_class,
        severity=rule.severity,
        playbook=rule.playbook,
        title=rule.title,
        priority=rule.priority,
        built_in=True,
    )


@router.get("/fault-rules")
async def list_fault_rules(
    session: Session, _: Viewer, built_in: bool = True
) -> list[FaultRuleOut]:
    """The classification table in the order it is applied: operators' rules (lowest
    priority first), then the built-in rows (unless ``built_in=false``)."""
    rows = (await session.scalars(select(FaultRule).order_by(FaultRule.priority))).all()
    out = [FaultRuleOut.model_validate(r) for r in rows]
    if built_in:
        out += [_built_in(r) for r in BUILT_IN]
    return out


@router.post("/fault-rules", status_code=status.HTTP_201_CREATED)
async def add_fault_rule(body: FaultRuleIn, session: Session, _: Operator) -> FaultRuleOut:
    """Add a rule; it applies to every fault classified from now on."""
    row = FaultRule(id=str(uuid.uuid4()), **body.model_dump())
    session.add(row)
    await session.commit()
    return FaultRuleOut.model_validate(row)


@router.delete("/fault-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_fault_rule(rule_id: str, session: Session, _: Operator) -> None:
    """Remove an operator's rule (built-in rows cannot be removed; override them)."""
    row = await session.get(FaultRule, rule_id)
    if row is None:
        raise not_found("fault rule", rule_id)
    await session.delete(row)
    await session.commit()
