"""Version-neutral domain types shared by the gateway, the workflows and the activities.

Units are explicit in every field name: energy in Wh, power in W, money as a
decimal string with its ISO 4217 currency, time as timezone-aware UTC.
These types cross the Temporal boundary, so they are plain dataclasses that the
default data converter serialises as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

TASK_QUEUE = "csms"
"""Default task queue of the CSMS worker (workflows and their activities)."""


def session_workflow_id(station_id: str, transaction_id: str) -> str:
    """Business key of the charging-session workflow for one transaction."""
    return f"session:{station_id}:{transaction_id}"


class SessionState(StrEnum):
    """Lifecycle of a charging session as operators see it."""

    ACTIVE = "active"
    STOPPED = "stopped"
    COMPLETED = "completed"


@dataclass(frozen=True)
class SessionStarted:
    """A charger reported the start of a transaction (any OCPP version)."""

    station_id: str
    site_id: str | None
    connector_id: int
    transaction_id: str
    id_token: str
    meter_start_wh: int
    started_at: datetime
    ocpp_version: str = "1.6"


@dataclass(frozen=True)
class SessionStopped:
    """A charger reported the end of a transaction."""

    transaction_id: str
    meter_stop_wh: int
    stopped_at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class SessionProgress:
    """Throttled progress of a running session (never one per meter sample)."""

    transaction_id: str
    energy_register_wh: float
    power_w: float | None
    measured_at: datetime


@dataclass(frozen=True)
class ChargeDetailRecord:
    """The billable record of one finished session."""

    transaction_id: str
    station_id: str
    site_id: str | None
    connector_id: int
    started_at: datetime
    stopped_at: datetime
    energy_wh: float
    price_per_kwh: str
    currency: str
    total_cost: str
    stop_reason: str | None = None
    notes: list[str] = field(default_factory=list)


class AuthorizationStatus(StrEnum):
    """Standing of an id token; the values are the OCPP names shared by 1.6 and 2.x."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
