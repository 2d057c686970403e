"""Station health in neutral terms: the facts the gateway reports, the classes of
fault, the remediation playbooks and the state the ``StationHealth`` workflow
carries across continue-as-new.

The gateway sends a :class:`StationFact` through its outbox only when something
that matters for health changes (a fault appears or clears, the station boots,
its liveness changes, it reports a problem event); never per heartbeat or meter
sample. Playbooks are data: the workflow walks their steps on durable timers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from workflows.device_commands import Monitor


def health_workflow_id(station_id: str) -> str:
    """Business key of a station's health workflow."""
    return f"station:{station_id}"


class FactKind(StrEnum):
    """What a fact says."""

    STATUS = "status"  # a connector's status, with its error codes
    BOOT = "boot"
    LIVENESS = "liveness"
    EVENT = "event"  # 2.x NotifyEvent problem, or a security event (both versions)
    SYMPTOM = "symptom"  # a pattern the gateway saw in telemetry (stuck Preparing, ...)


class Liveness(StrEnum):
    """A station's connection as the gateway sees it."""

    CONNECTED = "connected"  # the socket is open, nothing sent on it yet
    BOOTING = "booting"  # booted, not (yet) accepted: pending or rejected
    ONLINE = "online"  # messages flow
    SILENT = "silent"  # the socket stays open (pings answered) but the station says nothing
    OFFLINE = "offline"  # no socket: closed, or half-open and given up on


class FaultClass(StrEnum):
    """Where a fault comes from, which decides how it is remediated."""

    HARDWARE = "hardware"
    COMMUNICATION = "communication"
    SOFTWARE = "software"  # software or firmware
    VEHICLE = "vehicle"  # the vehicle or its use
    GRID = "grid"  # supply


class Severity(StrEnum):
    """How urgent a fault is (incidents and alerts carry it)."""

    INFO = "info"
    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"


SEVERITY_RANK = {s: k for k, s in enumerate(Severity)}

HEALTHY_STATUSES = frozenset(
    {
        "Available",
        "Preparing",
        "Charging",
        "SuspendedEV",
        "SuspendedEVSE",
        "Finishing",
        "Reserved",
        "Occupied",
        "Unavailable",
    }
)
"""Statuses that are no fault by themselves (Unavailable is the operator's choice)."""

NO_ERROR = frozenset({"", "NoError"})


def is_fault_status(status: str, error_code: str | None) -> bool:
    """Whether a connector status reports a fault: Faulted, or any error code."""
    return status == "Faulted" or (error_code or "") not in NO_ERROR


@dataclass(frozen=True)
class StationFact:
    """One lifecycle fact about a station, as the gateway reports it.

    ``state`` is the connector status (status), the liveness state (liveness), the
    2.x component/variable or the security event type (event), or the symptom's
    name (symptom). ``cleared`` says an event or symptom has ended.
    """

    station_id: str
    kind: FactKind
    at: datetime
    state: str
    evse_id: int = 0
    connector_id: int = 0
    error_code: str | None = None
    vendor_error_code: str | None = None
    info: str | None = None
    tech_code: str | None = None
    severity: int | None = None  # 2.x event severity (0 danger .. 9 debug)
    cleared: bool = False
    # False for a fault that never clears by itself (a security event, a reboot loop):
    # it is worked on once, and its incident waits for an operator.
    lasting: bool = True
    cause: str | None = None
    firmware_version: str | None = None
    ocpp_version: str | None = None

    def fault_key(self) -> str:
        """What a fault of this fact is about; a later fact with the same key clears or
        replaces it."""
        where = f"{self.evse_id}/{self.connector_id}"
        if self.kind is FactKind.STATUS:
            return f"status@{where}"
        if self.kind is FactKind.LIVENESS:
            return "liveness"
        return f"{self.kind.value}:{self.state}@{where}"


@dataclass(frozen=True)
class FaultReport:
    """What the classifier is asked about."""

    station_id: str
    kind: FactKind
    state: str
    error_code: str | None = None
    vendor_error_code: str | None = None
    tech_code: str | None = None
    severity: int | None = None


@dataclass(frozen=True)
class Classification:
    """The rule that matched a fault: its class, severity and playbook."""

    fault_class: FaultClass
    severity: Severity
    title: str
    playbook: str
    rule: str  # which rule matched (built-in name or an operator rule's id)


class Step(StrEnum):
    """One remediation step."""

    TRIGGER_STATUS = "trigger_status"  # TriggerMessage StatusNotification, then wait
    TRIGGER_HEARTBEAT = "trigger_heartbeat"
    SOFT_RESET = "soft_reset"  # only when idle, within the station's reset budget
    HARD_RESET = "hard_reset"
    INOPERATIVE = "inoperative"  # ChangeAvailability Inoperative: drivers see it out of use
    WAIT = "wait"
    ESCALATE = "escalate"  # open an incident for a field visit


@dataclass(frozen=True)
class PlaybookStep:
    """A step and how long to wait after it for the fault to clear."""

    step: Step
    wait_s: float = 0.0


PLAYBOOKS: dict[str, tuple[PlaybookStep, ...]] = {
    # A connector fault the station may shed by itself or with a reboot.
    "hardware": (
        PlaybookStep(Step.TRIGGER_STATUS, 120),
        PlaybookStep(Step.SOFT_RESET, 600),
        PlaybookStep(Step.HARD_RESET, 900),
        PlaybookStep(Step.INOPERATIVE),
        PlaybookStep(Step.ESCALATE),
    ),
    "software": (
        PlaybookStep(Step.TRIGGER_STATUS, 120),
        PlaybookStep(Step.SOFT_RESET, 600),
        PlaybookStep(Step.HARD_RESET, 900),
        PlaybookStep(Step.ESCALATE),
    ),
    # Silent station: ask for a heartbeat, then reboot it, then send someone.
    "communication": (
        PlaybookStep(Step.TRIGGER_HEARTBEAT, 120),
        PlaybookStep(Step.SOFT_RESET, 600),
        PlaybookStep(Step.ESCALATE),
    ),
    # The supply may come back: no reset (it would not help), wait, then escalate.
    "grid": (PlaybookStep(Step.WAIT, 1800), PlaybookStep(Step.ESCALATE)),
    # Too hot: let it cool, look again, then send someone.
    "cooldown": (
        PlaybookStep(Step.WAIT, 1800),
        PlaybookStep(Step.TRIGGER_STATUS, 120),
        PlaybookStep(Step.ESCALATE),
    ),
    # The vehicle's fault ends with the vehicle: look again, never reset for it.
    "vehicle": (PlaybookStep(Step.TRIGGER_STATUS, 300),),
    # Safety (tamper, ground fault that persists): out of use and a visit, at once.
    "safety": (PlaybookStep(Step.INOPERATIVE), PlaybookStep(Step.ESCALATE)),
    "escalate": (PlaybookStep(Step.ESCALATE),),
    "observe": (),
}
"""Built-in playbooks by name; a classification names one."""


HEALTH_MONITORS: tuple[Monitor, ...] = (
    # Severity 0 (danger) .. 9 (debug); a Delta on a boolean fires on every change.
    Monitor("ChargingStation.Problem", "Delta", 1, 1),
    Monitor("EVSE.Problem", "Delta", 1, 2),
    Monitor("Connector.Problem", "Delta", 1, 2),
    Monitor("PowerContactor.Tripped", "Delta", 1, 1),
    Monitor("TemperatureSensor.Temperature", "UpperThreshold", 80, 3),
)
"""What the health workflow asks a 2.x station to report as NotifyEvent: its
problems as they appear and clear, a tripped contactor, and overheating."""


@dataclass(frozen=True)
class HealthSettings:
    """How patient the health workflow is, per station."""

    # Disconnected (or silent) this long without coming back: the station is offline.
    offline_after_s: float = 300.0
    # Offline this long: an incident.
    offline_incident_after_s: float = 3600.0
    # Boots not caused by a remediation reset within the window: a reboot loop.
    boot_window_s: float = 3600.0
    boot_limit: int = 3
    # A reset budget: never more than this many resets in a day, so no reset loop.
    max_resets_per_day: int = 3
    # A fault that opens this many times in the window is flapping: one incident,
    # no more remediation or alerts for it until it settles.
    flap_window_s: float = 3600.0
    flap_limit: int = 3
    # How long a reset waits for the station's sessions to end, looking again every poll.
    idle_wait_s: float = 1800.0
    idle_poll_s: float = 300.0
    # 2.x: set the monitors health needs (HEALTH_MONITORS) on the station.
    set_monitors: bool = True
    # Continue as new after this many history events (well below Temporal's limits).
    history_limit: int = 2000


@dataclass
class ActiveFault:
    """A fault the workflow is working on."""

    key: str
    evse_id: int
    connector_id: int
    kind: FactKind
    code: str
    since: datetime
    fault_class: FaultClass
    severity: Severity
    title: str
    playbook: str
    rule: str
    vendor_error_code: str | None = None
    lasting: bool = True
    step: int = 0  # the playbook's next step
    due_at: datetime | None = None  # when it is due (None: nothing left to do)
    idle_since_wait: datetime | None = None  # a reset waiting for sessions to end
    flapping: bool = False
    incident_id: str | None = None
    tried: list[str] = field(default_factory=list)


@dataclass
class HealthState:
    """Everything the workflow knows, carried across continue-as-new."""

    liveness: Liveness | None = None
    liveness_since: datetime | None = None
    liveness_cause: str | None = None
    offline: bool = False  # judged offline (not merely disconnected for a moment)
    offline_due: datetime | None = None
    offline_incident_due: datetime | None = None
    offline_incident_id: str | None = None
    firmware_version: str | None = None
    ocpp_version: str | None = None
    faults: dict[str, ActiveFault] = field(default_factory=dict)
    boots: list[datetime] = field(default_factory=list)
    resets: list[datetime] = field(default_factory=list)
    expected_boot_until: datetime | None = None
    openings: dict[str, list[datetime]] = field(default_factory=dict)
    monitors_set: bool = False
    monitors_firmware: str | None = None  # the firmware the monitors were set on
    # The newest fact seen per key: an older one delivered late (the outbox delivers at
    # least once, not always in order) changes nothing.
    seen_at: dict[str, datetime] = field(default_factory=dict)
    facts_seen: int = 0
    last_action: str = "watching"


@dataclass(frozen=True)
class HealthInput:
    """The workflow's input: a new station's, or the state carried across."""

    station_id: str
    settings: HealthSettings = field(default_factory=HealthSettings)
    state: HealthState | None = None


@dataclass(frozen=True)
class FaultView:
    """A fault as operators see it."""

    key: str
    code: str
    fault_class: str
    severity: str
    title: str
    since: datetime
    evse_id: int
    connector_id: int
    next_step: str | None
    due_at: datetime | None
    tried: list[str]
    flapping: bool
    incident_id: str | None


@dataclass(frozen=True)
class HealthView:
    """The station's health, as the workflow's query answers it."""

    station_id: str
    health: str  # healthy | degraded | faulted | offline | unknown
    liveness: str | None
    liveness_since: datetime | None
    liveness_cause: str | None
    faults: list[FaultView]
    resets_today: int
    last_action: str
    facts_seen: int


@dataclass(frozen=True)
class IncidentOpening:
    """Open (or find open) an incident for a fault the playbook could not clear."""

    station_id: str
    key: str
    title: str
    severity: Severity
    fault_class: FaultClass
    code: str
    evse_id: int
    connector_id: int
    since: datetime
    tried: list[str]
    reason: str
    workflow_id: str


@dataclass(frozen=True)
class IncidentNote:
    """A line in an incident's timeline; ``resolve`` closes it (the fault cleared)."""

    incident_id: str
    at: datetime
    text: str
    resolve: bool = False


@dataclass(frozen=True)
class HealthRecord:
    """The station's judged health, kept on its row for the API."""

    station_id: str
    health: str
    at: datetime
    reason: str
    faults: list[str]


@dataclass(frozen=True)
class IncidentOutcome:
    """The incident a fault has now, and the alerts to deliver about it."""

    incident_id: str
    created: bool
    deliveries: list[str] = field(default_factory=list)
