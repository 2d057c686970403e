"""Health facts: what the gateway tells a station's health workflow, through the outbox.

Only what matters for health leaves the gateway (rule 2, telemetry is not
orchestration): a connector status that reports a fault, or the first one after a
fault; a boot; a liveness change; a 2.x problem event and a security event that
is a fault. Each fact is written in the same transaction as the message that
caused it and delivered by the outbox relay (signal-with-start of
``station:{id}``), so a crash or a Temporal outage loses none.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from activities.fault_rules import SECURITY_FAULTS
from activities.persistence.models import OutboxEvent
from activities.persistence.repositories import outbox
from activities.persistence.types import to_json
from gateway.outbox_relay import STATION_FACT
from gateway.timestamps import parse_timestamp, utcnow
from workflows.domain import ConnectorStatus
from workflows.health import FactKind, StationFact, health_workflow_id, is_fault_status

PROBLEM_VARIABLES = frozenset({"problem", "fault", "tripped", "overload", "fallback"})
"""2.x variables whose true value is a problem (and whose false value clears it)."""


def enqueue(session: AsyncSession, node_id: str, fact: StationFact) -> OutboxEvent:
    """Put a fact in the outbox, in the caller's transaction."""
    return outbox.enqueue(
        session,
        node_id=node_id,
        kind=STATION_FACT,
        workflow_id=health_workflow_id(fact.station_id),
        payload={"fact": to_json(fact)},
    )


def status_fact(
    station_id: str,
    status: ConnectorStatus,
    before: tuple[str, str | None, str | None] | None,
) -> StationFact | None:
    """The fact a status change is, if health cares: a fault appears, changes code, or
    clears. ``before`` is the connector's (status, error code, vendor code) before it."""
    faulted = is_fault_status(status.status, status.error_code)
    was = before is not None and is_fault_status(before[0], before[1])
    if not faulted and not was:
        return None
    reported = (status.status, status.error_code, status.vendor_error_code)
    if faulted and was and before == reported:
        return None  # the same fault reported again
    return StationFact(
        station_id=station_id,
        kind=FactKind.STATUS,
        at=status.at,
        state=status.status,
        evse_id=status.evse_id,
        connector_id=status.connector_id,
        error_code=status.error_code,
        vendor_error_code=status.vendor_error_code,
        info=status.info,
    )


def event_facts(station_id: str, payload: dict[str, Any]) -> list[StationFact]:
    """2.x NotifyEvent: the facts among its events (problems raised or cleared, monitor
    alerts, anything with a tech code); availability and other reports are not."""
    facts: list[StationFact] = []
    for item in payload.get("eventData") or []:
        if not isinstance(item, dict):
            continue
        component = item.get("component") or {}
        variable = item.get("variable") or {}
        name = str(component.get("name") or "?")
        variable_name = str(variable.get("name") or "?")
        actual = str(item.get("actualValue", ""))
        problem = variable_name.casefold() in PROBLEM_VARIABLES
        alerting = item.get("trigger") == "Alerting"
        tech_code = item.get("techCode")
        if not (problem or alerting or tech_code or item.get("cleared")):
            continue
        cleared = bool(item.get("cleared")) or (problem and actual.casefold() in ("false", "0", ""))
        evse = component.get("evse") or {}
        try:
            at = parse_timestamp(item["timestamp"])
        except (KeyError, ValueError, OverflowError):
            at = utcnow()
        facts.append(
            StationFact(
                station_id=station_id,
                kind=FactKind.EVENT,
                at=at,
                state=f"{name}/{variable_name}"[:100],
                evse_id=_small(evse.get("id")),
                connector_id=_small(evse.get("connectorId")),
                info=actual[:100] or None,
                tech_code=str(tech_code)[:50] if tech_code else None,
                cleared=cleared,
            )
        )
    return facts


def security_fact(station_id: str, payload: dict[str, Any]) -> StationFact | None:
    """A security event that is a fault (tamper, memory, certificates, ...), as a
    one-off fact; the others stay in the message log and the station's notices."""
    kind = str(payload.get("type", ""))
    if kind not in SECURITY_FAULTS:
        return None
    try:
        at = parse_timestamp(payload["timestamp"])
    except (KeyError, ValueError, OverflowError):
        at = utcnow()
    return StationFact(
        station_id=station_id,
        kind=FactKind.EVENT,
        at=at,
        state=kind,
        info=str(payload.get("techInfo") or "")[:100] or None,
        lasting=False,
    )


def _small(value: object) -> int:
    """An EVSE or connector id as the fact keeps it (0 when absent or absurd)."""
    return value if isinstance(value, int) and 0 <= value < 10_000 else 0


def enqueue_all(
    session: AsyncSession, node_id: str, facts: Iterable[StationFact]
) -> list[OutboxEvent]:
    """Every fact in the outbox (the caller's transaction)."""
    return [enqueue(session, node_id, fact) for fact in facts]
