"""Incidents, their timelines, and the alerts they send.

At most one incident is open (or acknowledged) per station and fault key: a fault
that comes back while its incident is open adds to that incident's timeline.
An alert rule is told once per incident and event, and not again about the same
station and fault within its ``repeat_after_s`` (flapping faults stay quiet).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import (
    AlertDelivery,
    AlertRule,
    ChargeDetailRecordRow,
    Connector,
    Incident,
    IncidentEvent,
    Station,
    StationMessage,
)
from workflows.health import SEVERITY_RANK, IncidentOpening, Severity

OPEN_STATES = ("open", "acknowledged")
EVIDENCE_MESSAGES = 20


async def open_of(session: AsyncSession, station_id: str, key: str) -> Incident | None:
    """The station's open (or acknowledged) incident for a fault, if any."""
    return await session.scalar(
        select(Incident)
        .where(
            Incident.station_id == station_id,
            Incident.key == key,
            Incident.state.in_(OPEN_STATES),
        )
        .limit(1)
    )


def add_event(
    session: AsyncSession, incident: Incident, at: datetime, kind: str, text: str, actor: str
) -> None:
    """A line in the incident's timeline (the caller's transaction)."""
    session.add(
        IncidentEvent(incident_id=incident.id, at=at, kind=kind, text=text[:4000], actor=actor)
    )


async def evidence(session: AsyncSession, station_id: str) -> dict[str, Any]:
    """What a field engineer needs before driving out: the station's recent messages,
    its connectors' statuses and error codes, firmware, and its last good session."""
    station = await session.get(Station, station_id)
    messages = (
        await session.scalars(
            select(StationMessage)
            .where(StationMessage.station_id == station_id)
            .order_by(StationMessage.at.desc(), StationMessage.id.desc())
            .limit(EVIDENCE_MESSAGES)
        )
    ).all()
    connectors = (
        await session.scalars(select(Connector).where(Connector.station_id == station_id))
    ).all()
    last = await session.scalar(
        select(ChargeDetailRecordRow)
        .where(ChargeDetailRecordRow.station_id == station_id, ChargeDetailRecordRow.energy_wh > 0)
        .order_by(ChargeDetailRecordRow.stopped_at.desc())
        .limit(1)
    )
    return {
        "vendor": station.vendor if station else None,
        "model": station.model if station else None,
        "firmware_version": station.firmware_version if station else None,
        "ocpp_version": station.ocpp_version if station else None,
        "last_boot_at": _iso(station.last_boot_at) if station else None,
        "liveness": station.liveness if station else None,
        "connectors": [
            {
                "evse_id": c.evse_id,
                "connector_id": c.connector_id,
                "status": c.status,
                "error_code": c.error_code,
                "vendor_error_code": c.vendor_error_code,
                "info": c.info,
                "at": _iso(c.status_at),
            }
            for c in connectors
        ],
        "recent_messages": [
            {
                "at": _iso(m.at),
                "direction": m.direction,
                "action": m.action,
                "request": m.request,
                "response": m.response,
                "error_code": m.error_code,
            }
            for m in messages
        ],
        "last_successful_session": None
        if last is None
        else {
            "transaction_id": last.transaction_ref,
            "stopped_at": _iso(last.stopped_at),
            "energy_wh": last.energy_wh,
        },
    }


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


@dataclass(frozen=True)
class Opened:
    """The incident a fault has, and whether it was opened now."""

    incident: Incident
    created: bool


async def open_incident(session: AsyncSession, opening: IncidentOpening, at: datetime) -> Opened:
    """Open an incident for a fault, or add to the one already open for it."""
    found = await open_of(session, opening.station_id, opening.key)
    if found is not None:
        add_event(session, found, at, "note", f"again: {opening.reason}", "health")
        return Opened(found, False)
    station = await session.get(Station, opening.station_id)
    incident = Incident(
        id=str(uuid.uuid4()),
        station_id=opening.station_id,
        site_id=station.site_id if station else None,
        key=opening.key,
        title=opening.title,
        severity=opening.severity.value,
        fault_class=opening.fault_class.value,
        code=opening.code[:100],
        state="open",
        evse_id=opening.evse_id,
        connector_id=opening.connector_id,
        fault_since=opening.since,
        opened_at=at,
        evidence={**await evidence(session, opening.station_id), "tried": opening.tried},
        workflow_id=opening.workflow_id,
    )
    session.add(incident)
    await session.flush()
    add_event(session, incident, at, "opened", opening.reason, "health")
    for line in opening.tried:
        add_event(session, incident, at, "tried", line, "health")
    return Opened(incident, True)


async def queue_alerts(
    session: AsyncSession, incident: Incident, event: str, at: datetime
) -> list[str]:
    """Deliveries for every enabled rule the incident concerns (site and severity),
    except rules told about this station and fault within their repeat window."""
    rules = (await session.scalars(select(AlertRule).where(AlertRule.enabled.is_(True)))).all()
    rank = SEVERITY_RANK[Severity(incident.severity)]
    queued: list[str] = []
    for rule in rules:
        if SEVERITY_RANK[Severity(rule.min_severity)] > rank:
            continue
        if rule.site_id is not None and rule.site_id != incident.site_id:
            continue
        if await _told(session, rule, incident, event):
            continue
        if event == "opened":
            recent = await session.scalar(
                select(AlertDelivery.id)
                .where(
                    AlertDelivery.rule_id == rule.id,
                    AlertDelivery.station_id == incident.station_id,
                    AlertDelivery.key == incident.key,
                    AlertDelivery.event == "opened",
                    AlertDelivery.created_at > at - timedelta(seconds=rule.repeat_after_s),
                )
                .limit(1)
            )
            if recent is not None:
                add_event(
                    session,
                    incident,
                    at,
                    "alert",
                    f"{rule.name}: suppressed (told recently)",
                    "health",
                )
                continue
        elif event == "resolved" and not await _told(session, rule, incident, "opened"):
            continue  # never told it opened: no need to say it closed
        delivery = AlertDelivery(
            id=str(uuid.uuid4()),
            rule_id=rule.id,
            incident_id=incident.id,
            station_id=incident.station_id,
            key=incident.key,
            event=event,
            status="pending",
            attempts=0,
            created_at=at,
        )
        session.add(delivery)
        queued.append(delivery.id)
        add_event(session, incident, at, "alert", f"{rule.name}: {rule.channel} queued", "health")
    await session.flush()
    return queued


async def _told(session: AsyncSession, rule: AlertRule, incident: Incident, event: str) -> bool:
    found = await session.scalar(
        select(AlertDelivery.id)
        .where(
            AlertDelivery.rule_id == rule.id,
            AlertDelivery.incident_id == incident.id,
            AlertDelivery.event == event,
        )
        .limit(1)
    )
    return found is not None


async def timeline(session: AsyncSession, incident_id: str) -> Sequence[IncidentEvent]:
    """An incident's timeline, oldest first."""
    return (
        await session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(IncidentEvent.at, IncidentEvent.id)
        )
    ).all()
