"""Incidents for field visits and the alert rules that tell people about them."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select

from activities.persistence.models import AlertDelivery, AlertRule, Incident
from activities.persistence.repositories import incidents
from api.auth import Operator, Viewer
from api.deps import Session
from api.errors import not_found
from api.schemas import UtcDateTime
from workflows.health import Severity

router = APIRouter(tags=["incidents and alerts"])

State = Literal["open", "acknowledged", "resolved"]


class IncidentEventOut(BaseModel):
    """One line of the timeline."""

    model_config = ConfigDict(from_attributes=True)

    at: UtcDateTime
    kind: str
    text: str
    actor: str


class AlertDeliveryOut(BaseModel):
    """One alert sent (or being sent) about the incident."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    rule_id: str
    event: str
    status: str
    attempts: int
    last_error: str | None
    created_at: UtcDateTime
    delivered_at: UtcDateTime | None


class IncidentOut(BaseModel):
    """An incident: what is wrong where, since when, and its state."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    station_id: str
    site_id: str | None
    title: str
    severity: str
    fault_class: str
    code: str
    state: str
    evse_id: int
    connector_id: int
    fault_since: UtcDateTime
    opened_at: UtcDateTime
    acknowledged_at: UtcDateTime | None
    resolved_at: UtcDateTime | None


class IncidentDetailOut(IncidentOut):
    """An incident with its evidence, timeline and alerts."""

    evidence: dict[str, Any]
    timeline: list[IncidentEventOut] = []
    alerts: list[AlertDeliveryOut] = []


@router.get("/incidents")
async def list_incidents(
    session: Session,
    _: Viewer,
    state: State | None = None,
    station_id: str | None = Query(None, max_length=64),
    site_id: str | None = Query(None, max_length=64),
    severity: Severity | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[IncidentOut]:
    """Incidents, newest first, filtered by state, station, site and severity."""
    query = select(Incident).order_by(Incident.opened_at.desc()).limit(limit)
    if state is not None:
        query = query.where(Incident.state == state)
    if station_id is not None:
        query = query.where(Incident.station_id == station_id)
    if site_id is not None:
        query = query.where(Incident.site_id == site_id)
    if severity is not None:
        query = query.where(Incident.severity == severity.value)
    return [IncidentOut.model_validate(i) for i in (await session.scalars(query)).all()]


async def _detail(session: Session, incident: Incident) -> IncidentDetailOut:
    out = IncidentDetailOut.model_validate(incident)
    out.timeline = [
        IncidentEventOut.model_validate(e) for e in await incidents.timeline(session, incident.id)
    ]
    alerts = await session.scalars(
        select(AlertDelivery)
        .where(AlertDelivery.incident_id == incident.id)
        .order_by(AlertDelivery.created_at)
    )
    out.alerts = [AlertDeliveryOut.model_validate(a) for a in alerts.all()]
    return out


@router.get("/incidents/{incident_id}")
async def get_incident(incident_id: str, session: Session, _: Viewer) -> IncidentDetailOut:
    """An incident with its evidence (recent messages, error codes, firmware, last
    good session, what remediation tried), timeline and alerts."""
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise not_found("incident", incident_id)
    return await _detail(session, incident)


class IncidentActionIn(BaseModel):
    """Who did it and why (kept on the timeline)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=2000)
    actor: str = Field("operator", min_length=1, max_length=64)


@router.post("/incidents/{incident_id}/acknowledge")
async def acknowledge_incident(
    incident_id: str, body: IncidentActionIn, session: Session, _: Operator
) -> IncidentDetailOut:
    """Someone is on it. An acknowledged incident still resolves when the fault clears."""
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise not_found("incident", incident_id)
    if incident.state == "open":
        now = datetime.now(UTC)
        incident.state, incident.acknowledged_at = "acknowledged", now
        incidents.add_event(session, incident, now, "acknowledged", body.note or "-", body.actor)
        await session.commit()
    return await _detail(session, incident)


@router.post("/incidents/{incident_id}/resolve")
async def resolve_incident(
    incident_id: str, body: IncidentActionIn, session: Session, _: Operator
) -> IncidentDetailOut:
    """Close it (fixed on site). A fault that comes back opens a new incident."""
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise not_found("incident", incident_id)
    if incident.state != "resolved":
        now = datetime.now(UTC)
        incident.state, incident.resolved_at = "resolved", now
        incidents.add_event(session, incident, now, "resolved", body.note or "-", body.actor)
        await session.commit()
    return await _detail(session, incident)


class AlertRuleIn(BaseModel):
    """Whom to tell: a webhook URL (signed, see the docs) or e-mail addresses."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    channel: Literal["webhook", "email"]
    target: str = Field(min_length=3, max_length=1000)
    min_severity: Severity = Severity.MAJOR
    site_id: str | None = Field(None, max_length=64)
    repeat_after_s: float = Field(3600.0, ge=0, le=30 * 86400)
    enabled: bool = True

    @field_validator("target")
    @classmethod
    def _stripped(cls, value: str) -> str:
        return value.strip()

    @model_validator(mode="after")
    def _check(self) -> AlertRuleIn:
        if self.channel == "webhook":
            parts = urlsplit(self.target)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("a webhook target is an http(s) URL")
        else:
            addresses = [a.strip() for a in self.target.split(",")]
            if not all("@" in a and " " not in a and len(a) >= 3 for a in addresses):
                raise ValueError("an email target is a comma-separated list of addresses")
        return self


class AlertRuleOut(BaseModel):
    """A rule as stored (its webhook secret is never shown again)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    channel: str
    target: str
    min_severity: str
    site_id: str | None
    repeat_after_s: float
    enabled: bool
    created_at: UtcDateTime


class AlertRuleCreated(AlertRuleOut):
    """The new rule and, for a webhook, the signing secret: shown this once only."""

    secret: str | None = None


@router.get("/alert-rules")
async def list_alert_rules(session: Session, _: Viewer) -> list[AlertRuleOut]:
    """Every alert rule."""
    rows = await session.scalars(select(AlertRule).order_by(AlertRule.created_at))
    return [AlertRuleOut.model_validate(r) for r in rows.all()]


@router.post("/alert-rules", status_code=status.HTTP_201_CREATED)
async def add_alert_rule(body: AlertRuleIn, session: Session, _: Operator) -> AlertRuleCreated:
    """Add a rule; a webhook rule gets a signing secret (returned once)."""
    secret = secrets.token_urlsafe(32) if body.channel == "webhook" else None
    row = AlertRule(
        id=str(uuid.uuid4()),
        secret=secret,
        created_at=datetime.now(UTC),
        **body.model_dump(mode="json"),
    )
    session.add(row)
    await session.commit()
    out = AlertRuleCreated.model_validate(row)
    out.secret = secret
    return out


@router.delete("/alert-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_alert_rule(rule_id: str, session: Session, _: Operator) -> None:
    """Stop a rule (its past deliveries stay with their incidents)."""
    row = await session.get(AlertRule, rule_id)
    if row is None:
        raise not_found("alert rule", rule_id)
    row.enabled = False
    await session.commit()
