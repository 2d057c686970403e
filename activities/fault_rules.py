"""The fault classification rule table: built-in rows and operators' own, matched
the same way (pure: dataclasses in, a classification out).

Built in:

- OCPP 1.6 ``ChargePointErrorCode`` (StatusNotification ``errorCode``);
- the ChargeX Consortium's Minimum Required Error Codes (``CX001``..), which
  chargers send as the 1.6 ``vendorErrorCode`` (2.x: the event's ``techCode``);
- OCPP 2.x NotifyEvent components (the event's ``state`` is
  ``Component/Variable``) and security events of both versions;
- the symptoms the gateway and the health workflow detect themselves.

Operators' rules come first (lowest ``priority``, then the most matchers set);
the first built-in row that matches decides otherwise; a fault nothing matches is
hardware, major, with the hardware playbook (someone should look at it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from workflows.health import PLAYBOOKS, Classification, FactKind, FaultClass, FaultReport, Severity


@dataclass(frozen=True)
class Rule:
    """One row: what it matches (None: anything) and what it decides."""

    name: str
    fault_class: FaultClass
    severity: Severity
    playbook: str
    title: str | None = None
    kind: FactKind | None = None
    state: str | None = None
    error_code: str | None = None
    vendor_error_code: str | None = None  # a trailing ``*`` matches a prefix
    tech_code: str | None = None
    vendor: str | None = None
    model: str | None = None
    priority: int = 100

    def __post_init__(self) -> None:
        if self.playbook not in PLAYBOOKS:
            raise ValueError(f"unknown playbook {self.playbook!r}; known: {sorted(PLAYBOOKS)}")

    def specificity(self) -> int:
        """How many matchers are set (more: more specific)."""
        matchers = (
            self.kind,
            self.state,
            self.error_code,
            self.vendor_error_code,
            self.tech_code,
            self.vendor,
            self.model,
        )
        return sum(m is not None for m in matchers)

    def matches(self, report: FaultReport, vendor: str | None, model: str | None) -> bool:
        """Whether every matcher set accepts the fault (codes compared case-insensitively)."""
        return (
            (self.kind is None or self.kind == report.kind)
            and _same(self.state, report.state)
            and _same(self.error_code, report.error_code)
            and _code(self.vendor_error_code, report.vendor_error_code)
            and _same(self.tech_code, report.tech_code)
            and _same(self.vendor, vendor)
            and _same(self.model, model)
        )


def _same(want: str | None, got: str | None) -> bool:
    return want is None or (got is not None and want.casefold() == got.casefold())


def _code(want: str | None, got: str | None) -> bool:
    if want is None:
        return True
    if got is None:
        return False
    if want.endswith("*"):
        return got.casefold().startswith(want[:-1].casefold())
    # ChargeX: several codes at once travel comma-separated in vendorErrorCode.
    return want.casefold() in (part.strip().casefold() for part in got.split(","))


H, C, S, V, G = (
    FaultClass.HARDWARE,
    FaultClass.COMMUNICATION,
    FaultClass.SOFTWARE,
    FaultClass.VEHICLE,
    FaultClass.GRID,
)
INFO, WARN, MAJOR, CRIT = Severity.INFO, Severity.WARNING, Severity.MAJOR, Severity.CRITICAL
STATUS, EVENT, SYMPTOM = FactKind.STATUS, FactKind.EVENT, FactKind.SYMPTOM


def _cx(code: str, cls: FaultClass, sev: Severity, playbook: str, title: str) -> Rule:
    return Rule(f"chargex:{code}", cls, sev, playbook, title, vendor_error_code=code)


def _ocpp16(code: str, cls: FaultClass, sev: Severity, playbook: str, title: str) -> Rule:
    return Rule(f"ocpp16:{code}", cls, sev, playbook, title, kind=STATUS, error_code=code)


def _component(name: str, cls: FaultClass, sev: Severity, playbook: str, title: str) -> Rule:
    return Rule(f"ocpp2:{name}", cls, sev, playbook, title, kind=EVENT, state=name)


def _symptom(name: str, cls: FaultClass, sev: Severity, playbook: str, title: str) -> Rule:
    return Rule(f"symptom:{name}", cls, sev, playbook, title, kind=SYMPTOM, state=name)


CHARGEX: tuple[Rule, ...] = (
    _cx("CX001", H, MAJOR, "hardware", "Connector lock failure"),
    _cx("CX002", H, CRIT, "hardware", "Ground fault (GFCI activated)"),
    _cx("CX003", H, MAJOR, "cooldown", "High temperature, power derated"),
    _cx("CX004", H, MAJOR, "hardware", "Over-current protection tripped"),
    _cx("CX005", G, MAJOR, "grid", "Over-voltage"),
    _cx("CX006", G, MAJOR, "grid", "Under-voltage"),
    _cx("CX007", C, WARN, "escalate", "Weak wireless signal"),
    # Latched by a person on site: a reset cannot release it.
    _cx("CX008", V, MAJOR, "escalate", "Emergency stop pressed"),
    _cx("CX009", V, INFO, "observe", "Authorization timed out after plug-in"),
    _cx("CX010", V, WARN, "vehicle", "Vehicle in an invalid mode for charging"),
    _cx("CX011", H, MAJOR, "hardware", "Cable check failure"),
    _cx("CX012", H, MAJOR, "hardware", "Pre-charge failure"),
    _cx("CX013", C, MAJOR, "communication", "No internet connectivity"),
    _cx("CX014", H, MAJOR, "hardware", "Control pilot fault"),
    _cx("CX015", G, CRIT, "grid", "Power loss (mains failure)"),
    _cx("CX016", V, WARN, "vehicle", "Vehicle contactor fault"),
    _cx("CX017", H, CRIT, "hardware", "EVSE contactor fault"),
    _cx("CX018", H, WARN, "cooldown", "Cable over-temperature, derated"),
    _cx("CX019", H, MAJOR, "cooldown", "Cable over-temperature, stopped"),
    _cx("CX020", V, INFO, "vehicle", "Connector partially inserted"),
    _cx("CX021", H, MAJOR, "hardware", "Isolation monitor: high capacitance"),
    _cx("CX022", H, CRIT, "safety", "Isolation monitor: low resistance to chassis"),
    _cx("CX023", H, MAJOR, "hardware", "Proximity fault"),
    _cx("CX024", H, CRIT, "safety", "Output voltage high outside a session"),
    _cx("CX025", H, MAJOR, "escalate", "Broken connector latch"),
    _cx("CX026", H, CRIT, "safety", "Output cable cut"),
)
"""The ChargeX minimum required error codes (INL, Sept. 2023: CX001..CX026), sent as
the 1.6 ``vendorErrorCode`` (vendorId ``https://chargex.inl.gov``) or the 2.x event's
``techCode``. Our class and playbook per code: safety-critical faults (isolation,
live output, a cut cable) go out of use and to a visit at once; what a person or
vehicle causes is never answered with a reset."""

OCPP16: tuple[Rule, ...] = (
    _ocpp16("ConnectorLockFailure", H, MAJOR, "hardware", "Connector lock failure"),
    _ocpp16("EVCommunicationError", V, WARN, "vehicle", "EV communication error"),
    _ocpp16("GroundFailure", H, CRIT, "hardware", "Ground failure"),
    _ocpp16("HighTemperature", H, MAJOR, "cooldown", "High temperature"),
    _ocpp16("InternalError", S, MAJOR, "software", "Internal error"),
    _ocpp16("LocalListConflict", S, WARN, "escalate", "Local authorization list conflict"),
    _ocpp16("OverCurrentFailure", H, MAJOR, "hardware", "Over-current failure"),
    _ocpp16("OverVoltage", G, MAJOR, "grid", "Over-voltage"),
    _ocpp16("UnderVoltage", G, MAJOR, "grid", "Under-voltage"),
    _ocpp16("PowerMeterFailure", H, MAJOR, "hardware", "Power meter failure"),
    _ocpp16("PowerSwitchFailure", H, CRIT, "hardware", "Power switch failure"),
    _ocpp16("ReaderFailure", H, WARN, "hardware", "RFID reader failure"),
    _ocpp16("ResetFailure", S, MAJOR, "escalate", "Reset failure"),
    _ocpp16("WeakSignal", C, WARN, "escalate", "Weak signal"),
    _ocpp16("OtherError", H, MAJOR, "hardware", "Other error"),
    # 2.x reports no error code with Faulted (its events say why): a generic fault.
    _ocpp16("Faulted", H, MAJOR, "hardware", "Connector faulted"),
)

OCPP2_COMPONENTS: tuple[Rule, ...] = (
    _component("ConnectorPlugRetentionLock", H, MAJOR, "hardware", "Connector lock failure"),
    _component("PowerContactor", H, CRIT, "hardware", "Power contactor failure"),
    _component("RCD", H, CRIT, "hardware", "Residual current device tripped"),
    _component("GroundIsolationProtection", H, CRIT, "safety", "Isolation failure"),
    _component("TemperatureSensor", H, MAJOR, "cooldown", "High temperature"),
    _component("ElectricalFeed", G, MAJOR, "grid", "Electrical feed problem"),
    _component("AcDcConverter", H, MAJOR, "hardware", "Power converter failure"),
    _component("FiscalMetering", H, MAJOR, "hardware", "Meter failure"),
    _component("TokenReader", H, WARN, "hardware", "Token reader failure"),
    _component("Display", H, WARN, "hardware", "Display failure"),
    _component("ISO15118Ctrlr", V, WARN, "vehicle", "ISO 15118 communication error"),
    _component("OCPPCommCtrlr", C, MAJOR, "communication", "OCPP communication problem"),
    _component("Controller", S, MAJOR, "software", "Controller problem"),
    _component("AccessBarrier", H, CRIT, "safety", "Access barrier opened"),
)
"""2.x NotifyEvent components (whatever variable reported the problem)."""

SECURITY: tuple[Rule, ...] = tuple(
    Rule(f"security:{name}", cls, sev, playbook, title, kind=EVENT, state=name)
    for name, cls, sev, playbook, title in (
        ("TamperDetectionActivated", H, CRIT, "safety", "Tamper detection activated"),
        ("MemoryExhaustion", S, MAJOR, "software", "Memory exhausted"),
        ("InvalidFirmwareSignature", S, MAJOR, "escalate", "Firmware signature invalid"),
        (
            "InvalidFirmwareSigningCertificate",
            S,
            MAJOR,
            "escalate",
            "Firmware signing certificate invalid",
        ),
        ("InvalidCsmsCertificate", C, MAJOR, "escalate", "CSMS certificate refused"),
        ("InvalidTLSVersion", C, MAJOR, "escalate", "TLS version refused"),
        ("InvalidTLSCipherSuite", C, MAJOR, "escalate", "TLS cipher suite refused"),
        ("FailedToAuthenticateAtCsms", C, MAJOR, "escalate", "Station cannot authenticate"),
        ("AttemptedReplayAttacks", C, CRIT, "escalate", "Replay attack attempted"),
    )
)
"""Security events that are faults (the others are kept in the message log only)."""

SYMPTOMS: tuple[Rule, ...] = (
    _symptom("Silent", C, WARN, "communication", "Station online but silent"),
    _symptom("RebootLoop", S, CRIT, "escalate", "Station keeps rebooting"),
    _symptom("StuckPreparing", V, WARN, "vehicle", "Connector stuck in Preparing"),
    _symptom("StartFailed", H, MAJOR, "hardware", "Sessions fail to start after Authorize"),
    _symptom("MeterValuesStopped", S, MAJOR, "software", "Meter values stopped while charging"),
    _symptom("EnergyNotRising", H, MAJOR, "hardware", "Energy not rising while charging"),
)

BUILT_IN: tuple[Rule, ...] = (
    # ChargeX codes are the most precise: they win over the coarse 1.6 error code.
    *CHARGEX,
    *OCPP16,
    *OCPP2_COMPONENTS,
    *SECURITY,
    *SYMPTOMS,
)

FALLBACK = Rule("fallback", H, MAJOR, "hardware", "Unclassified fault")

SECURITY_FAULTS = frozenset(r.state for r in SECURITY if r.state is not None)
"""The security event types the gateway reports to the health workflow."""


def _component_of(report: FaultReport) -> FaultReport:
    """2.x events are matched by their component (``Component/Variable`` → ``Component``)."""
    if report.kind is FactKind.EVENT and "/" in report.state:
        return replace(report, state=report.state.split("/", 1)[0])
    return report


def classify(
    report: FaultReport,
    operator_rules: Iterable[Rule] = (),
    *,
    vendor: str | None = None,
    model: str | None = None,
) -> Classification:
    """The class, severity and playbook of a fault.

    A 2.x event's tech code is tried as a ChargeX code too, and its own severity
    (0 danger .. 9 debug) raises the built-in severity when it is 0 or 1.
    """
    candidates: Sequence[FaultReport] = (report, _component_of(report))
    own = sorted(operator_rules, key=lambda r: (r.priority, -r.specificity(), r.name))
    for rule in own:
        if any(rule.matches(c, vendor, model) for c in candidates):
            return _decided(rule, report, operator=True)
    for c in candidates:
        probe = c
        if c.vendor_error_code is None and c.tech_code is not None:
            # A 2.x tech code may be a ChargeX code, as a 1.6 vendorErrorCode is.
            probe = replace(c, vendor_error_code=c.tech_code)
        for rule in BUILT_IN:
            if rule.matches(probe, vendor, model):
                return _decided(rule, report, operator=False)
    return _decided(FALLBACK, report, operator=False)


def _decided(rule: Rule, report: FaultReport, *, operator: bool) -> Classification:
    severity = rule.severity
    if report.severity is not None and report.severity <= 1 and not operator:
        severity = Severity.CRITICAL
    title = rule.title or f"{report.state} ({report.error_code})"
    return Classification(
        fault_class=rule.fault_class,
        severity=severity,
        title=title,
        playbook=rule.playbook,
        rule=rule.name if not operator else f"operator:{rule.name}",
    )
