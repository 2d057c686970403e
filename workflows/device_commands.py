"""Version-neutral commands of the 2.x device model and its neighbours: display
messages (block O), monitoring and customer information (block N), reports and
network profiles (block B), transaction status (block E) and running cost (block I).

Variables are named ``Component.Variable`` as elsewhere in the platform
(``EVSE.Power``); a component alone is ``Component``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


def _non_negative(name: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{name} must not be negative")


@dataclass(frozen=True)
class SetDisplayMessage:
    """Show ``text`` on the station's screen: how urgently, in which station state,
    from and until when, during one transaction only."""

    message_id: int
    text: str
    priority: Literal["AlwaysFront", "InFront", "NormalCycle"] = "NormalCycle"
    text_format: Literal["ASCII", "HTML", "URI", "UTF8"] = "UTF8"
    language: str | None = None
    state: Literal["Charging", "Faulted", "Idle", "Unavailable"] | None = None
    start: datetime | None = None
    end: datetime | None = None
    transaction_id: str | None = None

    def __post_init__(self) -> None:
        _non_negative("message_id", self.message_id)
        if not self.text or len(self.text) > 512:
            raise ValueError("text must hold 1..512 characters")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must come after start")


@dataclass(frozen=True)
class GetDisplayMessages:
    """The station reports its display messages (NotifyDisplayMessages, kept among the
    station's events under ``request_id``), filtered as given."""

    request_id: int
    message_ids: list[int] = field(default_factory=list)
    priority: Literal["AlwaysFront", "InFront", "NormalCycle"] | None = None
    state: Literal["Charging", "Faulted", "Idle", "Unavailable"] | None = None


@dataclass(frozen=True)
class ClearDisplayMessage:
    """Remove one display message."""

    message_id: int


@dataclass(frozen=True)
class Monitor:
    """One monitor on a variable: a threshold, a delta or a periodic report, and the
    severity (0 danger .. 9 debug) of the event it raises."""

    key: str
    kind: Literal["UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned"]
    value: float
    severity: int = 5
    transaction: bool = False
    monitor_id: int | None = None  # given: replaces that monitor

    def __post_init__(self) -> None:
        if not 0 <= self.severity <= 9:
            raise ValueError("severity is 0 (danger) .. 9 (debug)")


@dataclass(frozen=True)
class SetVariableMonitoring:
    """Install monitors; the answer says per monitor whether it was taken."""

    monitors: list[Monitor]

    def __post_init__(self) -> None:
        if not self.monitors:
            raise ValueError("give at least one monitor")


@dataclass(frozen=True)
class ClearVariableMonitoring:
    """Remove monitors by id."""

    monitor_ids: list[int]

    def __post_init__(self) -> None:
        if not self.monitor_ids:
            raise ValueError("give at least one monitor id")


@dataclass(frozen=True)
class SetMonitoringBase:
    """Reset the monitors to a base set."""

    base: Literal["All", "FactoryDefault", "HardWiredOnly"]


@dataclass(frozen=True)
class SetMonitoringLevel:
    """Report only events of this severity or more severe (0 danger .. 9 debug)."""

    severity: int

    def __post_init__(self) -> None:
        if not 0 <= self.severity <= 9:
            raise ValueError("severity is 0 (danger) .. 9 (debug)")


ReportCriterion = Literal["Active", "Available", "Enabled", "Problem"]
MonitoringCriterion = Literal["ThresholdMonitoring", "DeltaMonitoring", "PeriodicMonitoring"]


@dataclass(frozen=True)
class GetMonitoringReport:
    """The station reports its monitors (NotifyMonitoringReport, kept under
    ``request_id``), filtered by kind and by variable."""

    request_id: int
    criteria: list[MonitoringCriterion] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GetReport:
    """A report of selected variables (NotifyReport, stored as the configuration):
    by component criteria and by ``Component`` or ``Component.Variable`` names."""

    request_id: int
    criteria: list[ReportCriterion] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CustomerInformation:
    """A data-protection request: the station reports (NotifyCustomerInformation, kept
    under ``request_id``) and/or clears what it holds about one customer, named by
    an id token or the customer's identifier."""

    request_id: int
    report: bool = True
    clear: bool = False
    id_token: str | None = None
    token_type: str = "ISO14443"
    customer_identifier: str | None = None

    def __post_init__(self) -> None:
        if self.id_token is None and self.customer_identifier is None:
            raise ValueError("name the customer: id_token or customer_identifier")
        if not (self.report or self.clear):
            raise ValueError("ask to report, to clear, or both")


@dataclass(frozen=True)
class SetNetworkProfile:
    """Write a connection profile into a slot (then ``NetworkConfigurationPriority``
    and a reset move the station to it): the CSMS URL, security profile 1..3."""

    slot: int
    url: str
    security_profile: int
    interface: Literal[
        "Wired0", "Wired1", "Wired2", "Wired3", "Wireless0", "Wireless1", "Wireless2", "Wireless3"
    ] = "Wired0"
    message_timeout_s: int = 30

    def __post_init__(self) -> None:
        _non_negative("slot", self.slot)
        if self.security_profile not in (0, 1, 2, 3):
            raise ValueError("security_profile is 0..3")
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError("url is the CSMS's ws:// or wss:// address")
        if self.security_profile >= 2 and not self.url.startswith("wss://"):
            raise ValueError("security profiles 2 and 3 need a wss:// url")


@dataclass(frozen=True)
class GetTransactionStatus:
    """Whether the station still queues messages (of one transaction, or any) and
    whether that transaction is ongoing."""

    transaction_id: str | None = None


@dataclass(frozen=True)
class CostUpdated:
    """2.x: the running cost of a transaction, shown to the driver."""

    transaction_id: str
    total_cost: float
