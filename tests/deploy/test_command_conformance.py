"""CSMS-initiated operations named after the OCA test cases (OCTT), against strict stations.

Each case is played end to end: the operator's request through the API, the
StationCommand (or reservation / upload) workflow, the gateway node, a strict
ocpp-rpc station that validates every frame against the official schemas of
its version and answers as the case prescribes; then what the API returned.
Ids are the OCTT's (TC_xxx_CSMS for 1.6, X_nn_CSMS for 2.0.1); each docstring
names the scenario as the CSMS sees it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from activities.certificate_authority import CertificateAuthority
from deploy.stack import Stack
from tests.deploy.live_stations import booted_station
from tests.gateway.conformance.station import StrictStation

STATION = {"ocpp1.6": "OCTT-16", "ocpp2.0.1": "OCTT-201"}
LATER = "2099-01-01T00:00:00Z"


ROOT = CertificateAuthority.generate("OCTT root").certificate_pem
"""A real self-signed root certificate in PEM, to install."""
PROFILE = {
    "profile_id": 5001,
    "stack_level": 3,
    "purpose": "TxDefault",
    "evse_id": 1,
    "kind": "Recurring",
    "recurrency": "Daily",
    "start": "2026-12-03T00:00:00Z",
    "duration_s": 86400,
    "periods": [{"start_s": 0, "limit": 11000}, {"start_s": 25200, "limit": 7400}],
}
HASH = {
    "hash_algorithm": "SHA256",
    "issuer_name_hash": "a1b2",
    "issuer_key_hash": "c3d4",
    "serial_number": "1f",
}


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    """One node for the whole module."""
    return module_stack


@pytest.fixture(scope="module")
def http(module_http: httpx.AsyncClient) -> httpx.AsyncClient:
    """Its API."""
    return module_http


@pytest.fixture(scope="module")
async def stations(stack: Stack) -> AsyncIterator[dict[str, StrictStation]]:
    """One booted strict station per version."""
    connected = {p: await booted_station(stack, s, p) for p, s in STATION.items()}
    yield connected
    for station in connected.values():
        await station.close()
        assert station.failures == [], station.failures


@dataclass(frozen=True)
class Case:
    """One OCTT case: the request, the station's scripted answer, what must happen."""

    octt: str
    protocol: str
    path: str  # under /stations/{id}/
    body: dict[str, Any] | None
    action: str
    sent: dict[str, Any] = field(default_factory=dict)  # must be contained in the CALL
    answer: dict[str, Any] | None = None  # None: the station's usual acceptance
    status: str | None = "Accepted"  # the neutral status the API reports


V16, V201 = "ocpp1.6", "ocpp2.0.1"
CASES = [
    # --- OCPP 1.6 ---
    Case("TC_010_CSMS", V16, "commands/remote-start", {"id_token": "T1", "connector_id": 1},
         "RemoteStartTransaction", {"connectorId": 1, "idTag": "T1"}),
    Case("TC_059_CSMS", V16, "commands/remote-start",
         {"id_token": "T1", "connector_id": 1, "charging_profile": {
             "periods": [{"start_s": 0, "limit": 6000}], "profile_id": 5002}},
         "RemoteStartTransaction",
         {"chargingProfile": {"chargingProfileId": 5002, "stackLevel": 2,
                              "chargingProfilePurpose": "TxProfile",
                              "chargingProfileKind": "Relative",
                              "chargingSchedule": {"chargingRateUnit": "W",
                                                   "chargingSchedulePeriod": [
                                                       {"startPeriod": 0, "limit": 6000.0}]}}}),
    Case("TC_011_1_CSMS", V16, "commands/remote-start", {"id_token": "T1"},
         "RemoteStartTransaction", {"idTag": "T1"}),
    Case("TC_012_CSMS", V16, "commands/remote-stop", {"transaction_id": "7"},
         "RemoteStopTransaction", {"transactionId": 7}),
    Case("TC_013_CSMS", V16, "commands/reset", {"kind": "hard"}, "Reset", {"type": "Hard"}),
    Case("TC_014_CSMS", V16, "commands/reset", {"kind": "soft"}, "Reset", {"type": "Soft"}),
    Case("TC_017_1_CSMS", V16, "commands/unlock-connector", {"connector_id": 1},
         "UnlockConnector", {"connectorId": 1}, status="Unlocked"),
    Case("TC_019_1_CSMS", V16, "commands/get-configuration", {}, "GetConfiguration", {}),
    Case("TC_019_2_CSMS", V16, "commands/get-configuration", {"keys": ["HeartbeatInterval"]},
         "GetConfiguration", {"key": ["HeartbeatInterval"]}),
    Case("TC_021_CSMS", V16, "commands/change-configuration",
         {"key": "MeterValueSampleInterval", "value": "60"},
         "ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "60"}),
    Case("TC_026_CSMS", V16, "commands/remote-start", {"id_token": "T1", "connector_id": 1},
         "RemoteStartTransaction", answer={"status": "Rejected"}, status="Rejected"),
    Case("TC_028_CSMS", V16, "commands/remote-stop", {"transaction_id": "7"},
         "RemoteStopTransaction", answer={"status": "Rejected"}, status="Rejected"),
    Case("TC_030_CSMS", V16, "commands/unlock-connector", {"connector_id": 1},
         "UnlockConnector", answer={"status": "UnlockFailed"}, status="UnlockFailed"),
    Case("TC_031_CSMS", V16, "commands/unlock-connector", {"connector_id": 9},
         "UnlockConnector", {"connectorId": 9}, {"status": "NotSupported"}, "NotSupported"),
    Case("TC_040_CSMS", V16, "commands/change-configuration", {"key": "Unknown", "value": "1"},
         "ChangeConfiguration", answer={"status": "NotSupported"}, status="NotSupported"),
    Case("TC_042_1_CSMS", V16, "commands/get-local-list-version", None, "GetLocalListVersion"),
    Case("TC_043_1_CSMS", V16, "commands/send-local-list",
         {"list_version": 1, "update_type": "Full", "entries": [{"id_token": "T1"}]},
         "SendLocalList", {"listVersion": 1, "updateType": "Full"}),
    Case("TC_043_3_CSMS", V16, "commands/send-local-list",
         {"list_version": 2, "update_type": "Differential",
          "entries": [{"id_token": "T2", "status": None}]},
         "SendLocalList", {"localAuthorizationList": [{"idTag": "T2"}]}),
    Case("TC_045_1_CSMS", V16, "log-uploads", {}, "GetDiagnostics"),
    Case("TC_046_CSMS", V16, "reservations", {"id_token": "T1", "expires_at": LATER},
         "ReserveNow", {"connectorId": 1, "idTag": "T1"}),
    Case("TC_048_2_CSMS", V16, "reservations", {"id_token": "T1", "expires_at": LATER},
         "ReserveNow", answer={"status": "Occupied"}, status="Occupied"),
    Case("TC_049_CSMS", V16, "reservations",
         {"id_token": "T1", "expires_at": LATER, "connector_id": 0},
         "ReserveNow", {"connectorId": 0}),
    Case("TC_054_CSMS", V16, "commands/trigger-message", {"message": "Heartbeat"},
         "TriggerMessage", {"requestedMessage": "Heartbeat"}),
    Case("TC_055_CSMS", V16, "commands/trigger-message", {"message": "MeterValues"},
         "TriggerMessage", answer={"status": "Rejected"}, status="Rejected"),
    Case("TC_061_CSMS", V16, "commands/clear-cache", None, "ClearCache"),
    # 1.6 Smart Charging: an operator's own profiles, cleared, and the composite schedule.
    Case("TC_056_CSMS", V16, "commands/operator-charging-profile", PROFILE, "SetChargingProfile",
         {"connectorId": 1, "csChargingProfiles": {
             "chargingProfileId": 5001, "stackLevel": 3,
             "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Recurring",
             "recurrencyKind": "Daily", "chargingSchedule": {
                 "duration": 86400, "startSchedule": "2026-12-03T00:00:00.000Z",
                 "chargingRateUnit": "W", "chargingSchedulePeriod": [
                     {"startPeriod": 0, "limit": 11000.0},
                     {"startPeriod": 25200, "limit": 7400.0}]}}}),
    Case("TC_057_CSMS", V16, "commands/operator-charging-profile",
         {**PROFILE, "purpose": "Tx", "transaction_id": "42", "kind": "Relative",
          "recurrency": None, "start": None},
         "SetChargingProfile", {"connectorId": 1}),
    Case("TC_066_CSMS", V16, "commands/get-composite-schedule",
         {"duration_s": 3600, "evse_id": 1, "rate_unit": "W"}, "GetCompositeSchedule",
         {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"}),
    Case("TC_067_CSMS", V16, "commands/clear-charging-profile", {"profile_id": 5001},
         "ClearChargingProfile", {"id": 5001}),
    # 1.6 security extension.
    Case("TC_074_CSMS", V16, "commands/install-certificate",
         {"kind": "CSMSRoot", "certificate": ROOT}, "InstallCertificate",
         {"certificateType": "CentralSystemRootCertificate", "certificate": ROOT}),
    Case("TC_076_CSMS", V16, "commands/get-installed-certificate-ids",
         {"kinds": ["ManufacturerRoot"]}, "GetInstalledCertificateIds",
         {"certificateType": "ManufacturerRootCertificate"}),
    Case("TC_077_CSMS", V16, "commands/delete-certificate", HASH, "DeleteCertificate",
         {"certificateHashData": {"hashAlgorithm": "SHA256", "issuerNameHash": "a1b2",
                                  "issuerKeyHash": "c3d4", "serialNumber": "1f"}}),
    Case("TC_078_CSMS", V16, "log-uploads", {"log_type": "SecurityLog"}, "GetLog",
         {"logType": "SecurityLog"}),
    Case("TC_081_CSMS", V16, "commands/trigger-message",
         {"message": "SignChargingStationCertificate"}, "ExtendedTriggerMessage",
         {"requestedMessage": "SignChargePointCertificate"}),
    Case("TC_082_CSMS", V16, "commands/trigger-message", {"message": "LogStatusNotification"},
         "ExtendedTriggerMessage", {"requestedMessage": "LogStatusNotification"}),
    Case("TC_046_2_CSMS", V16, "reservations",
         {"id_token": "T1", "expires_at": LATER, "group_id_token": "FLEET"},
         "ReserveNow", {"idTag": "T1", "parentIdTag": "FLEET"}),
    # --- OCPP 2.0.1 ---
    Case("B_06_CSMS", V201, "commands/get-configuration",
         {"keys": ["OCPPCommCtrlr.HeartbeatInterval"]}, "GetVariables"),
    Case("B_07_CSMS", V201, "commands/get-base-report", {"report_base": "ConfigurationInventory"},
         "GetBaseReport", {"reportBase": "ConfigurationInventory"}),
    Case("B_08_CSMS", V201, "commands/get-base-report", {"report_base": "FullInventory"},
         "GetBaseReport", {"reportBase": "FullInventory"}),
    Case("B_09_CSMS", V201, "commands/change-configuration",
         {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "60"}, "SetVariables"),
    Case("B_10_CSMS", V201, "commands/set-variables",
         {"settings": [{"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "60"},
                       {"key": "SampledDataCtrlr.TxUpdatedInterval", "value": "30"}]},
         "SetVariables",
         {"setVariableData": [
             {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"},
              "attributeValue": "60"},
             {"component": {"name": "SampledDataCtrlr"},
              "variable": {"name": "TxUpdatedInterval"}, "attributeValue": "30"}]}),
    Case("B_11_CSMS", V201, "commands/reset", {"when": "immediate"}, "Reset",
         {"type": "Immediate"}),
    Case("B_12_CSMS", V201, "commands/reset", {"when": "idle"}, "Reset", {"type": "OnIdle"},
         {"status": "Scheduled"}, "Scheduled"),
    Case("B_20_CSMS", V201, "commands/reset", {"when": "immediate", "evse_id": 1}, "Reset",
         {"type": "Immediate", "evseId": 1}),
    Case("D_01_CSMS", V201, "commands/send-local-list",
         {"list_version": 1, "update_type": "Full", "entries": [{"id_token": "T1"}]},
         "SendLocalList", {"versionNumber": 1, "updateType": "Full"}),
    Case("D_02_CSMS", V201, "commands/send-local-list",
         {"list_version": 2, "update_type": "Differential", "entries": [{"id_token": "T1"}]},
         "SendLocalList", {"updateType": "Differential"}),
    Case("D_08_CSMS", V201, "commands/get-local-list-version", None, "GetLocalListVersion"),
    Case("F_01_CSMS", V201, "commands/remote-start", {"id_token": "T1", "evse_id": 1},
         "RequestStartTransaction", {"evseId": 1}),
    Case("K_37_CSMS", V201, "commands/remote-start",
         {"id_token": "T1", "evse_id": 1, "charging_profile": {
             "periods": [{"start_s": 0, "limit": 16}], "profile_id": 5003, "rate_unit": "A"}},
         "RequestStartTransaction",
         {"chargingProfile": {"id": 5003, "stackLevel": 2, "chargingProfilePurpose": "TxProfile",
                              "chargingProfileKind": "Relative",
                              "chargingSchedule": [{"id": 5003, "chargingRateUnit": "A",
                                                    "chargingSchedulePeriod": [
                                                        {"startPeriod": 0, "limit": 16.0}]}]}}),
    Case("F_02_CSMS", V201, "commands/remote-start", {"id_token": "T1"},
         "RequestStartTransaction", {"idToken": {"idToken": "T1", "type": "ISO14443"}}),
    Case("F_03_CSMS", V201, "commands/remote-stop", {"transaction_id": "tx-1"},
         "RequestStopTransaction", {"transactionId": "tx-1"}),
    Case("F_05_CSMS", V201, "commands/unlock-connector", {"evse_id": 1, "connector_id": 1},
         "UnlockConnector", {"evseId": 1, "connectorId": 1}, status="Unlocked"),
    Case("F_06_CSMS", V201, "commands/trigger-message",
         {"message": "StatusNotification", "evse_id": 1, "connector_id": 1}, "TriggerMessage",
         {"evse": {"id": 1, "connectorId": 1}}),
    Case("G_03_CSMS", V201, "commands/change-availability", {"operative": False, "evse_id": 1},
         "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}}),
    Case("G_04_CSMS", V201, "commands/change-availability", {"operative": False},
         "ChangeAvailability", {"operationalStatus": "Inoperative"}),
    Case("G_05_CSMS", V201, "commands/change-availability",
         {"operative": True, "evse_id": 1, "connector_id": 1}, "ChangeAvailability",
         {"evse": {"id": 1, "connectorId": 1}}, {"status": "Scheduled"}, "Scheduled"),
    Case("H_01_CSMS", V201, "reservations", {"id_token": "T1", "expires_at": LATER, "evse_id": 1},
         "ReserveNow", {"evseId": 1}),
    Case("H_02_CSMS", V201, "reservations", {"id_token": "T1", "expires_at": LATER},
         "ReserveNow", {"idToken": {"idToken": "T1", "type": "ISO14443"}}),
    Case("N_01_CSMS", V201, "log-uploads", {}, "GetLog", {"logType": "DiagnosticsLog"}),
    # Block K: an operator's profiles, what the station holds, its composite schedule.
    Case("K_01_CSMS", V201, "commands/operator-charging-profile", PROFILE, "SetChargingProfile",
         {"evseId": 1, "chargingProfile": {
             "id": 5001, "stackLevel": 3, "chargingProfilePurpose": "TxDefaultProfile",
             "chargingProfileKind": "Recurring", "recurrencyKind": "Daily",
             "chargingSchedule": [{
                 "id": 5001, "duration": 86400, "startSchedule": "2026-12-03T00:00:00.000Z",
                 "chargingRateUnit": "W", "chargingSchedulePeriod": [
                     {"startPeriod": 0, "limit": 11000.0},
                     {"startPeriod": 25200, "limit": 7400.0}]}]}}),
    Case("K_02_CSMS", V201, "commands/operator-charging-profile",
         {**PROFILE, "purpose": "StationMax", "evse_id": 0, "kind": "Absolute",
          "recurrency": None}, "SetChargingProfile", {"evseId": 0}),
    Case("K_10_CSMS", V201, "commands/clear-charging-profile",
         {"purpose": "TxDefaultProfile", "stack_level": 3}, "ClearChargingProfile",
         {"chargingProfileCriteria": {"chargingProfilePurpose": "TxDefaultProfile",
                                      "stackLevel": 3}}),
    Case("K_08_CSMS", V201, "commands/get-composite-schedule",
         {"duration_s": 3600, "evse_id": 1}, "GetCompositeSchedule",
         {"duration": 3600, "evseId": 1}),
    Case("K_29_CSMS", V201, "commands/get-charging-profiles",
         {"request_id": 9, "evse_id": 1, "purpose": "TxDefault"}, "GetChargingProfiles",
         {"requestId": 9, "evseId": 1,
          "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}}),
    # Block O: display messages.
    Case("O_01_CSMS", V201, "commands/set-display-message",
         {"message_id": 3, "text": "Free charging today", "priority": "InFront",
          "language": "en", "state": "Idle", "end": LATER}, "SetDisplayMessage",
         {"message": {"id": 3, "priority": "InFront", "state": "Idle",
                      "endDateTime": "2099-01-01T00:00:00.000Z",
                      "message": {"format": "UTF8", "language": "en",
                                  "content": "Free charging today"}}}),
    Case("O_06_CSMS", V201, "commands/set-display-message",
         {"message_id": 4, "text": "Your car is full", "transaction_id": "tx-1"},
         "SetDisplayMessage", answer={"status": "UnknownTransaction"},
         status="UnknownTransaction"),
    Case("O_02_CSMS", V201, "commands/get-display-messages",
         {"request_id": 10, "message_ids": [3]}, "GetDisplayMessages",
         {"requestId": 10, "id": [3]}),
    Case("O_04_CSMS", V201, "commands/clear-display-message", {"message_id": 3},
         "ClearDisplayMessage", {"id": 3}),
    # Block N: monitoring and customer information.
    Case("N_04_CSMS", V201, "commands/set-variable-monitoring",
         {"monitors": [{"key": "EVSE.Power", "kind": "UpperThreshold", "value": 22000}]},
         "SetVariableMonitoring",
         {"setMonitoringData": [{"transaction": False, "value": 22000.0,
                                 "type": "UpperThreshold", "severity": 5,
                                 "component": {"name": "EVSE"},
                                 "variable": {"name": "Power"}}]}),
    Case("N_06_CSMS", V201, "commands/clear-variable-monitoring", {"monitor_ids": [7]},
         "ClearVariableMonitoring", {"id": [7]}),
    Case("N_03_CSMS", V201, "commands/set-monitoring-base", {"base": "FactoryDefault"},
         "SetMonitoringBase", {"monitoringBase": "FactoryDefault"}),
    Case("N_05_CSMS", V201, "commands/set-monitoring-level", {"severity": 4},
         "SetMonitoringLevel", {"severity": 4}),
    Case("N_02_CSMS", V201, "commands/get-monitoring-report",
         {"request_id": 11, "criteria": ["ThresholdMonitoring"], "keys": ["EVSE"]},
         "GetMonitoringReport",
         {"requestId": 11, "monitoringCriteria": ["ThresholdMonitoring"],
          "componentVariable": [{"component": {"name": "EVSE"}}]}),
    Case("N_09_CSMS", V201, "commands/customer-information",
         {"request_id": 12, "id_token": "T1", "report": True, "clear": True},
         "CustomerInformation",
         {"requestId": 12, "report": True, "clear": True,
          "idToken": {"idToken": "T1", "type": "ISO14443"}}),
    # Block B: reports and network profiles.
    Case("B_13_CSMS", V201, "commands/get-report",
         {"request_id": 13, "criteria": ["Problem"], "keys": ["OCPPCommCtrlr.HeartbeatInterval"]},
         "GetReport",
         {"requestId": 13, "componentCriteria": ["Problem"],
          "componentVariable": [{"component": {"name": "OCPPCommCtrlr"},
                                 "variable": {"name": "HeartbeatInterval"}}]}),
    Case("B_43_CSMS", V201, "commands/set-network-profile",
         {"slot": 2, "url": "wss://csms.example/ocpp", "security_profile": 2},
         "SetNetworkProfile",
         {"configurationSlot": 2,
          "connectionData": {"ocppVersion": "OCPP20", "ocppTransport": "JSON",
                             "ocppCsmsUrl": "wss://csms.example/ocpp", "messageTimeout": 30,
                             "securityProfile": 2, "ocppInterface": "Wired0"}}),
    # Block E: transaction status; block I: running cost.
    Case("E_14_CSMS", V201, "commands/get-transaction-status", {"transaction_id": "tx-1"},
         "GetTransactionStatus", {"transactionId": "tx-1"}, status=None),
    Case("I_02_CSMS", V201, "commands/cost-updated",
         {"transaction_id": "tx-1", "total_cost": 4.25}, "CostUpdated",
         {"transactionId": "tx-1", "totalCost": 4.25}, status=None),
    # Block H: any connector of a type, and a group's reservation.
    Case("H_07_CSMS", V201, "reservations",
         {"id_token": "T1", "expires_at": LATER, "connector_type": "cType2",
          "group_id_token": "FLEET"}, "ReserveNow",
         {"connectorType": "cType2", "groupIdToken": {"idToken": "FLEET", "type": "ISO14443"}}),
    # Block M and A: certificates.
    Case("M_05_CSMS", V201, "commands/install-certificate",
         {"kind": "V2GRoot", "certificate": ROOT}, "InstallCertificate",
         {"certificateType": "V2GRootCertificate"}),
    Case("M_03_CSMS", V201, "commands/get-installed-certificate-ids", {"kinds": ["CSMSRoot"]},
         "GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate"]}),
    Case("M_04_CSMS", V201, "commands/delete-certificate", HASH, "DeleteCertificate",
         answer={"status": "NotFound"}, status="NotFound"),
    Case("A_02_CSMS", V201, "commands/trigger-message",
         {"message": "SignChargingStationCertificate"}, "TriggerMessage",
         {"requestedMessage": "SignChargingStationCertificate"}),
]  # fmt: skip


def _reply(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """The charger's reply within the API's answer (resources wrap it)."""
    return (
        body["reply"] if path in ("reservations", "log-uploads") or "remote-start" in path else body
    )


@pytest.mark.parametrize("case", CASES, ids=[c.octt for c in CASES])
async def test_octt_case(
    http: httpx.AsyncClient, stations: dict[str, StrictStation], case: Case
) -> None:
    """The case's CALL reaches the station in its version's form; the API reports its answer."""
    station = stations[case.protocol]
    if case.answer is not None:
        await station.answer(case.action, case.answer)
    try:
        response = await http.post(
            f"/stations/{STATION[case.protocol]}/{case.path}", json=case.body
        )
    finally:
        if case.answer is not None:
            await station.answer(case.action, None)
    assert response.status_code == 200, response.text
    sent = await station.next_command(case.action)
    assert sent.items() >= case.sent.items(), sent
    assert _reply(case.path, response.json())["status"] == case.status


@pytest.mark.parametrize(
    ("octt", "protocol", "answer"),
    [
        ("TC_051_CSMS", V16, {"status": "Accepted"}),
        ("TC_052_CSMS", V16, {"status": "Rejected"}),
        ("H_03_CSMS", V201, {"status": "Accepted"}),
        ("H_04_CSMS", V201, {"status": "Rejected"}),
    ],
)
async def test_octt_cancel_reservation(
    http: httpx.AsyncClient,
    stations: dict[str, StrictStation],
    octt: str,
    protocol: str,
    answer: dict[str, str],
) -> None:
    """Cancel a reservation; the charger's Accepted or Rejected is what the API reports."""
    station, station_id = stations[protocol], STATION[protocol]
    made = await http.post(
        f"/stations/{station_id}/reservations", json={"id_token": "T1", "expires_at": LATER}
    )
    rid = made.json()["reservation_id"]
    await station.next_command("ReserveNow")
    await station.answer("CancelReservation", answer)
    try:
        cancelled = await http.delete(f"/stations/{station_id}/reservations/{rid}")
    finally:
        await station.answer("CancelReservation", {"status": "Accepted"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == answer["status"]
    assert await station.next_command("CancelReservation") == {"reservationId": rid}


@pytest.mark.parametrize(
    ("protocol", "path", "body", "data"),
    [
        (V16, "get-composite-schedule", {"duration_s": 3600, "evse_id": 1},
         {"schedule": {"evse_id": 1, "start": "2026-12-03T10:00:00Z", "duration_s": 3600,
                       "rate_unit": "W", "periods": [{"start_s": 0, "limit": 11000.0}]}}),
        (V201, "get-composite-schedule", {"duration_s": 3600, "evse_id": 1},
         {"schedule": {"evse_id": 1, "start": "2026-12-03T10:00:00Z", "duration_s": 3600,
                       "rate_unit": "W", "periods": [{"start_s": 0, "limit": 11000.0}]}}),
        (V16, "get-installed-certificate-ids", {"kinds": ["CSMSRoot"]},
         {"certificates": [{"kind": "CSMSRoot", **HASH}]}),
        (V201, "get-installed-certificate-ids", {},
         {"certificates": [{"kind": "CSMSRoot", **HASH}]}),
        (V201, "set-variable-monitoring",
         {"monitors": [{"key": "EVSE.Power", "kind": "UpperThreshold", "value": 22000}]},
         {"monitors": [{"key": "EVSE.Power", "status": "Accepted", "monitor_id": 7}]}),
        (V201, "get-transaction-status", {}, {"ongoing": True, "messages_in_queue": False}),
    ],
)  # fmt: skip
async def test_answers_with_content_come_back_decoded(
    http: httpx.AsyncClient,
    stations: dict[str, StrictStation],
    protocol: str,
    path: str,
    body: dict[str, Any],
    data: dict[str, Any],
) -> None:
    """A composite schedule, certificate hashes, monitor ids, a transaction's status:
    the API returns them in neutral terms, not only the charger's raw answer."""
    response = await http.post(f"/stations/{STATION[protocol]}/commands/{path}", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == data


@pytest.mark.parametrize(
    ("protocol", "path", "body", "reason"),
    [
        (V201, "operator-charging-profile", {**PROFILE, "stack_level": 9}, "stack_level 9"),
        (V201, "operator-charging-profile", {**PROFILE, "stack_level": 0}, "stack_level 0"),
        (V201, "operator-charging-profile", {**PROFILE, "profile_id": 101}, "platform"),
        (V201, "operator-charging-profile", {**PROFILE, "purpose": "Tx"}, "transaction_id"),
        (V201, "operator-charging-profile",
         {**PROFILE, "periods": [{"start_s": 60, "limit": 1}]}, "start at 0"),
        (V201, "operator-charging-profile", {**PROFILE, "purpose": "PriorityCharging"},
         "OCPP 2.0.1"),
        (V16, "operator-charging-profile", {**PROFILE, "purpose": "LocalGeneration"}, "2.1"),
        (V16, "set-display-message", {"message_id": 1, "text": "hi"}, "2.x operation"),
        (V16, "install-certificate", {"kind": "V2GRoot", "certificate": ROOT}, "V2GRoot"),
        (V201, "customer-information", {"request_id": 1}, "name the customer"),
        (V201, "set-network-profile",
         {"slot": 1, "url": "ws://csms.example", "security_profile": 2}, "wss://"),
        (V16, "reservations",
         {"id_token": "T1", "expires_at": LATER, "connector_type": "cType2"}, "connector type"),
        (V201, "remote-start",
         {"id_token": "T1", "charging_profile": {"periods": [{"start_s": 0, "limit": 16}],
                                                 "profile_id": 101}}, "the platform's"),
        (V201, "remote-start",
         {"id_token": "T1", "charging_profile": {"periods": [{"start_s": 0, "limit": 16}],
                                                 "stack_level": 1}}, "stack levels 2..8"),
    ],
)  # fmt: skip
async def test_what_a_station_cannot_take_is_refused_before_it_is_sent(
    http: httpx.AsyncClient,
    stations: dict[str, StrictStation],
    protocol: str,
    path: str,
    body: dict[str, Any],
    reason: str,
) -> None:
    """422 with the reason, and nothing reaches the station: a profile on the
    platform's stack levels or ids, a purpose or operation the version lacks,
    arguments that contradict each other."""
    station = stations[protocol]
    before = len(station.received)
    where = path if path == "reservations" else f"commands/{path}"
    response = await http.post(f"/stations/{STATION[protocol]}/{where}", json=body)
    assert response.status_code == 422, response.text
    assert reason in response.text
    assert len(station.received) == before
