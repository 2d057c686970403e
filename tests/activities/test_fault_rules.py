"""The classification rule table: built-in rows, ChargeX codes, operators' rules."""

from __future__ import annotations

import pytest

from activities.fault_rules import BUILT_IN, CHARGEX, Rule, classify
from workflows.health import FactKind, FaultClass, FaultReport, Severity


def status(code: str, vendor: str | None = None) -> FaultReport:
    return FaultReport("CP-1", FactKind.STATUS, "Faulted", code, vendor)


@pytest.mark.parametrize(
    ("code", "cls", "playbook"),
    [
        ("ConnectorLockFailure", FaultClass.HARDWARE, "hardware"),
        ("EVCommunicationError", FaultClass.VEHICLE, "vehicle"),
        ("UnderVoltage", FaultClass.GRID, "grid"),
        ("InternalError", FaultClass.SOFTWARE, "software"),
        ("WeakSignal", FaultClass.COMMUNICATION, "escalate"),
        ("HighTemperature", FaultClass.HARDWARE, "cooldown"),
    ],
)
def test_ocpp16_error_codes_have_a_class_and_a_playbook(
    code: str, cls: FaultClass, playbook: str
) -> None:
    decided = classify(status(code))
    assert (decided.fault_class, decided.playbook) == (cls, playbook)
    assert decided.rule == f"ocpp16:{code}"


def test_a_chargex_code_wins_over_the_coarse_error_code() -> None:
    decided = classify(status("OtherError", "CX026"))
    assert decided.title == "Output cable cut" and decided.playbook == "safety"
    assert decided.severity is Severity.CRITICAL
    # Concurrent ChargeX codes travel comma-separated; any of them matches.
    assert classify(status("OtherError", "CX001,CX017")).rule in {"chargex:CX001", "chargex:CX017"}


def test_every_chargex_code_is_in_the_table_once() -> None:
    codes = [r.vendor_error_code for r in CHARGEX]
    assert codes == [f"CX{n:03d}" for n in range(1, 27)]


def test_2x_events_are_matched_by_component_and_tech_code() -> None:
    event = FaultReport("CP-1", FactKind.EVENT, "PowerContactor/Problem")
    assert classify(event).title == "Power contactor failure"
    # A ChargeX code in the event's techCode is as good as a 1.6 vendorErrorCode.
    coded = FaultReport("CP-1", FactKind.EVENT, "Connector/Problem", tech_code="CX011")
    assert classify(coded).title == "Cable check failure"
    # A danger-level event (severity 0) is critical whatever the table says.
    danger = FaultReport("CP-1", FactKind.EVENT, "Display/Problem", severity=0)
    assert classify(danger).severity is Severity.CRITICAL


def test_unknown_faults_fall_back_to_a_look_by_hardware() -> None:
    decided = classify(FaultReport("CP-1", FactKind.EVENT, "Whatever/Problem"))
    assert decided.rule == "fallback" and decided.playbook == "hardware"


def test_operator_rules_come_first_by_priority_then_specificity() -> None:
    broad = Rule("broad", FaultClass.GRID, Severity.WARNING, "grid", vendor="Acme", priority=50)
    narrow = Rule(
        "narrow",
        FaultClass.SOFTWARE,
        Severity.MAJOR,
        "software",
        vendor="Acme",
        vendor_error_code="E4*",
        priority=50,
    )
    report = status("OtherError", "E42")
    decided = classify(report, [broad, narrow], vendor="Acme")
    assert decided.rule == "operator:narrow"
    # Another vendor: neither applies, the built-in row does.
    assert classify(report, [broad, narrow], vendor="Other").rule == "ocpp16:OtherError"
    first = Rule("first", FaultClass.VEHICLE, Severity.INFO, "observe", vendor="Acme", priority=1)
    assert classify(report, [broad, narrow, first], vendor="Acme").rule == "operator:first"


def test_a_rule_must_name_a_known_playbook() -> None:
    with pytest.raises(ValueError, match="unknown playbook"):
        Rule("x", FaultClass.HARDWARE, Severity.MAJOR, "reboot-forever")


def test_built_in_names_are_unique() -> None:
    names = [r.name for r in BUILT_IN]
    assert len(names) == len(set(names))
