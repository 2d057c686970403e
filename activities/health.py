"""What the station health workflow needs from the database: the rule table, a
station's sessions, its judged health, incidents and the alerts they queue."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from opentelemetry import trace
from sqlalchemy import func, select
from temporalio import activity

from activities.fault_rules import Rule, classify
from activities.persistence.database import Database
from activities.persistence.models import FaultRule, Incident, Station, StationMessage, utcnow
from activities.persistence.repositories import incidents
from workflows.health import (
    Classification,
    FactKind,
    FaultClass,
    FaultReport,
    HealthRecord,
    IncidentNote,
    IncidentOpening,
    IncidentOutcome,
    Severity,
)


def rule_of(row: FaultRule) -> Rule:
    """An operator's stored rule as the classifier takes it."""
    return Rule(
        name=row.name,
        fault_class=FaultClass(row.fault_class),
        severity=Severity(row.severity),
        playbook=row.playbook,
        title=row.title,
        kind=FactKind(row.kind) if row.kind else None,
        state=row.state,
        error_code=row.error_code,
        vendor_error_code=row.vendor_error_code,
        tech_code=row.tech_code,
        vendor=row.vendor,
        model=row.model,
        priority=row.priority,
    )


TRACER = trace.get_tracer("csms.activities")
EVIDENCE_WAIT_S = 6.0
"""How long opening an incident waits for the fault's message to reach the log."""


class HealthActivities:
    """Activities of the ``StationHealth`` workflow."""

    def __init__(self, db: Database, evidence_wait_s: float = EVIDENCE_WAIT_S) -> None:
        self._db = db
        self._evidence_wait_s = evidence_wait_s

    @activity.defn(name="classify_fault")
    async def classify_fault(self, report: FaultReport) -> Classification:
        """Class, severity and playbook of a fault: operators' rules first, then the
        built-in table (for the station's vendor and model)."""
        async with self._db.sessions() as session:
            station = await session.get(Station, report.station_id)
            rows = (await session.scalars(select(FaultRule))).all()
        return classify(
            report,
            [rule_of(r) for r in rows],
            vendor=station.vendor if station else None,
            model=station.model if station else None,
        )

    @activity.defn(name="record_health")
    async def record_health(self, record: HealthRecord) -> None:
        """Keep the judged health on the station's row (newest judgement wins)."""
        with TRACER.start_as_current_span("db write stations.health"):
            async with self._db.sessions.begin() as session:
                station = await session.get(Station, record.station_id)
                if station is None or (
                    station.health_at is not None and station.health_at > record.at
                ):
                    return
                station.health, station.health_at = record.health, record.at
                reason = record.reason
                if record.faults:
                    reason += "; open faults: " + ", ".join(record.faults)
                station.health_reason = reason[:2000]

    @activity.defn(name="open_incident")
    async def open_incident(self, opening: IncidentOpening) -> IncidentOutcome:
        """Open an incident with its evidence (or add to the one open for the same
        fault), and queue the alerts it sends."""
        await self._logged_since(opening)
        async with self._db.sessions.begin() as session:
            opened = await incidents.open_incident(session, opening, utcnow())
            deliveries = (
                await incidents.queue_alerts(session, opened.incident, "opened", utcnow())
                if opened.created
                else []
            )
            return IncidentOutcome(opened.incident.id, opened.created, deliveries)

    async def _logged_since(self, opening: IncidentOpening) -> None:
        """Wait (briefly) for the message that raised the fault to reach the message log,
        which gateways write in batches about once a second: the evidence should hold it."""
        for _ in range(round(self._evidence_wait_s)):
            async with self._db.sessions() as session:
                newest = await session.scalar(
                    select(func.max(StationMessage.at)).where(
                        StationMessage.station_id == opening.station_id
                    )
                )
            if newest is not None and newest >= opening.since - timedelta(seconds=1):
                return
            if utcnow() - opening.since > timedelta(seconds=self._evidence_wait_s):
                return  # an old fault: what the log holds is all there is
            await asyncio.sleep(1.0)

    @activity.defn(name="note_incident")
    async def note_incident(self, note: IncidentNote) -> IncidentOutcome:
        """Add to an incident's timeline; ``resolve`` closes it (the fault cleared) and
        tells whoever was told it opened."""
        async with self._db.sessions.begin() as session:
            incident = await session.get(Incident, note.incident_id)
            if incident is None:
                return IncidentOutcome(note.incident_id, False)
            if not note.resolve or incident.state == "resolved":
                incidents.add_event(session, incident, note.at, "note", note.text, "health")
                return IncidentOutcome(incident.id, False)
            incident.state, incident.resolved_at = "resolved", note.at
            incidents.add_event(session, incident, note.at, "resolved", note.text, "health")
            deliveries = await incidents.queue_alerts(session, incident, "resolved", note.at)
            return IncidentOutcome(incident.id, False, deliveries)
