"""Version-neutral domain types shared by the gateway, the workflows and the activities.

Units are explicit in every field name: energy in Wh, power in W, money as a
decimal string with its ISO 4217 currency, time as timezone-aware UTC.
These types cross the Temporal boundary, so they are plain dataclasses that the
default data converter serialises as JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from workflows.health import StationFact
from workflows.profile_commands import StartProfile

TASK_QUEUE = "csms"
"""Default task queue of the CSMS worker (workflows and their activities)."""


def session_workflow_id(station_id: str, transaction_id: str) -> str:
    """Business key of the charging-session workflow for one transaction."""
    return f"session:{station_id}:{transaction_id}"


def own_session_workflow_id(
    station_id: str, transaction_id: str, reuse_pk: int | None
) -> str | None:
    """The session workflow id a transaction stores because the default one would be
    ambiguous, or None when :func:`session_workflow_id` is its id.

    A 2.x charger chooses its transaction ids. One that starts like our own ids
    (``remote-N`` is a remote start's, ``tx:`` the escaped form below) or holds a
    character our ids give a meaning to (``~`` before a reused id's row, ``:`` between
    station and id, ``%`` of the escape) gets the escaped form ``tx:<percent-encoded
    id>``; a reused id's later session appends ``~<row>``. No two transactions, and no
    remote start, can then share a workflow id.
    """
    ambiguous = transaction_id.startswith(("remote-", "tx:")) or any(
        c in transaction_id for c in "~:%"
    )
    if not ambiguous and reuse_pk is None:
        return None
    # quote() leaves "~" alone (it is unreserved in URLs); here it must not appear.
    escaped = quote(transaction_id, safe="").replace("~", "%7E")
    base = f"tx:{escaped}" if ambiguous else transaction_id
    suffix = "" if reuse_pk is None else f"~{reuse_pk}"
    return session_workflow_id(station_id, base + suffix)


def remote_session_workflow_id(station_id: str, remote_start_id: int) -> str:
    """Business key of a session an operator started remotely (before its transaction
    exists; the charger's transaction is correlated to it when it starts)."""
    return f"session:{station_id}:remote-{remote_start_id}"


class SessionState(StrEnum):
    """Lifecycle of a charging session as operators see it."""

    REQUESTED = "requested"
    ACTIVE = "active"
    STOPPED = "stopped"
    COMPLETED = "completed"
    NOT_STARTED = "not_started"
    # Stopped, but settlement failed for good: the session is in reconciliation.
    UNSETTLED = "unsettled"


@dataclass(frozen=True)
class RemoteStartRequest:
    """An operator's remote start: the session workflow sends it and awaits the transaction."""

    station_id: str
    site_id: str | None
    remote_start_id: int
    id_token: str
    request_id: str
    evse_id: int | None = None
    connector_id: int | None = None
    command_timeout_s: float = 30.0
    # How long the driver has to plug in after the charger accepted (OCPP's
    # ConnectionTimeOut is typically one to three minutes).
    start_timeout_s: float = 180.0
    # The request is not sent after this (the operator's API call stopped waiting).
    send_by: datetime | None = None
    # The TxProfile it carries: the operator's, or the site planner's share.
    charging_profile: StartProfile | None = None


@dataclass(frozen=True)
class SessionStarted:
    """A charger reported the start of a transaction (any OCPP version)."""

    station_id: str
    site_id: str | None
    connector_id: int
    transaction_id: str
    id_token: str | None
    meter_start_wh: int | None
    started_at: datetime
    ocpp_version: str = "1.6"
    evse_id: int | None = None
    # The site is smart-charged: the session tells the site's workflow when it
    # starts and ends (decided by the gateway, so other sessions pay nothing).
    smart_charging: bool = False
    # The stored transaction (a 2.x id may name several over time; older events
    # carry None and are found by station and id).
    transaction_pk: int | None = None


@dataclass(frozen=True)
class SessionStopped:
    """A charger reported the end of a transaction."""

    transaction_id: str
    meter_stop_wh: int | None
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
    total_cost: str  # what the driver pays, VAT included
    stop_reason: str | None = None
    notes: list[str] = field(default_factory=list)
    # Recorded before CDRs were priced by tariffs: None.
    total_excl_vat: str | None = None
    tariff_id: str | None = None
    tariff_version: int | None = None
    # The key of the card hold that pays for it (an ad-hoc session), if any.
    payment_hold: str | None = None


class AuthorizationStatus(StrEnum):
    """Standing of an id token; the values are the OCPP names shared by 1.6 and 2.x."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    # Not in the token table: 2.x says Unknown, 1.6 has only Invalid for it.
    UNKNOWN = "Unknown"


@dataclass(frozen=True)
class Authorization:
    """What the CSMS says about an id token."""

    status: AuthorizationStatus
    group_id: str | None = None
    cache_expires_at: datetime | None = None


class RegistrationStatus(StrEnum):
    """How a station is answered at boot."""

    ACCEPTED = "accepted"
    PENDING = "pending"
    REJECTED = "rejected"


@dataclass(frozen=True)
class StationIdentity:
    """What a station says about itself at boot (any version)."""

    vendor: str
    model: str
    serial_number: str | None
    firmware_version: str | None
    ocpp_version: str


@dataclass(frozen=True)
class ConnectorStatus:
    """Status of a connector. EVSE 0 is the whole station; 1.6 connector n is EVSE n."""

    evse_id: int
    connector_id: int
    status: str
    at: datetime
    error_code: str | None = None
    info: str | None = None
    vendor_error_code: str | None = None


@dataclass(frozen=True)
class MeterReading:
    """One sampled value, normalised: energy Wh, power W, current A, voltage V."""

    sampled_at: datetime
    measurand: str
    value: float
    unit: str
    phase: str | None = None
    location: str | None = None
    context: str | None = None


ENERGY_REGISTER = "Energy.Active.Import.Register"


def energy_register(readings: Sequence[MeterReading]) -> float | None:
    """The last whole-meter energy register (Wh) among ``readings``."""
    value = None
    for reading in readings:
        if reading.measurand == ENERGY_REGISTER and reading.phase is None:
            value = reading.value
    return value


class TransactionEventKind(StrEnum):
    """Lifecycle step of a transaction (1.6 Start/Stop map to Started/Ended)."""

    STARTED = "Started"
    UPDATED = "Updated"
    ENDED = "Ended"


@dataclass(frozen=True)
class TransactionEvent:
    """A transaction lifecycle message from any OCPP version.

    ``transaction_ref`` is None only for a 1.6 start: the CSMS allocates the id.
    """

    kind: TransactionEventKind
    station_id: str
    transaction_ref: str | None
    timestamp: datetime
    evse_id: int
    connector_id: int
    id_token: str | None = None
    seq_no: int | None = None
    trigger_reason: str | None = None
    offline: bool = False
    readings: tuple[MeterReading, ...] = ()
    # The energy register at this event (1.6 meterStart/meterStop, or from the readings).
    register_wh: int | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    charging_state: str | None = None
    reservation_id: int | None = None
    # What the gateway had to correct in the message (values out of range, samples
    # that are not numbers), kept in reconciliation; the message itself is accepted.
    notes: tuple[str, ...] = ()
    # The charger's time as sent when it was unusable and ``timestamp`` is the gateway's
    # clock: what identifies a retry of the message.
    unusable_time: str | None = None


class NoticeKind(StrEnum):
    """Notifications a station sends that the CSMS keeps for operators."""

    FIRMWARE_STATUS = "FirmwareStatus"
    # 2.0.1 local controllers: PublishFirmwareStatusNotification.
    PUBLISH_FIRMWARE_STATUS = "PublishFirmwareStatus"
    # 1.6 DiagnosticsStatusNotification and 2.x LogStatusNotification.
    LOG_STATUS = "LogStatus"
    SECURITY_EVENT = "SecurityEvent"
    EVENT = "Event"
    REPORT = "Report"
    CHARGING_LIMIT = "ChargingLimit"
    EV_CHARGING_NEEDS = "EVChargingNeeds"
    # 2.x NotifyEVChargingSchedule: the schedule the vehicle chose within its profile.
    EV_CHARGING_SCHEDULE = "EVChargingSchedule"
    CHARGING_PROFILES = "ChargingProfiles"


@dataclass(frozen=True)
class ChargingNeeds:
    """What a vehicle says it needs (2.x NotifyEVChargingNeeds), in neutral units."""

    evse_id: int
    energy_wh: float | None = None
    departure: datetime | None = None


@dataclass(frozen=True)
class ReportedVariable:
    """One configuration value a station reported (1.6 key, or 2.x component.variable)."""

    key: str
    value: str | None
    readonly: bool | None = None


@dataclass(frozen=True)
class ReservationEnded:
    """The station ended one of its reservations itself (2.x ReservationStatusUpdate)."""

    reservation_id: int
    # "expired" or "removed".
    status: str


@dataclass(frozen=True)
class StationNotice:
    """One such notification: its status (if it has one) and the message as sent.

    ``payload`` is kept for operators only; what the CSMS acts on arrives typed.
    """

    kind: NoticeKind
    status: str | None
    request_id: int | None
    payload: dict[str, Any]
    reservation_ended: ReservationEnded | None = None
    # A part of a base report (2.x NotifyReport): the values it carries.
    variables: tuple[ReportedVariable, ...] = ()
    # A vehicle's charging needs (2.x NotifyEVChargingNeeds).
    needs: ChargingNeeds | None = None
    # What the station's health workflow hears of it (problem and security events).
    facts: tuple[StationFact, ...] = ()


def reservation_workflow_id(station_id: str, reservation_id: int) -> str:
    """Business key of a reservation."""
    return f"reservation:{station_id}:{reservation_id}"


@dataclass(frozen=True)
class ReservationRequest:
    """Hold a connector (1.6) or EVSE (2.x) for one id token until ``expires_at``."""

    station_id: str
    reservation_id: int
    id_token: str
    expires_at: datetime
    request_id: str
    connector_id: int = 1
    evse_id: int | None = None
    timeout_s: float = 30.0
    connector_type: str | None = None
    group_id_token: str | None = None


def log_upload_workflow_id(station_id: str, request_id: int) -> str:
    """Business key of a diagnostics or log upload."""
    return f"logs:{station_id}:{request_id}"


@dataclass(frozen=True)
class LogUploadRequest:
    """Ask a station to upload its diagnostics (1.6) or a log (2.x) to ``location``."""

    station_id: str
    request_id: int
    token: str
    location: str
    command_request_id: str
    log_type: str = "DiagnosticsLog"
    since: datetime | None = None
    until: datetime | None = None
    timeout_s: float = 30.0
    # How long the upload may take before the workflow gives up waiting.
    wait_s: float = 3600.0
