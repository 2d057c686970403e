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

from deploy.stack import Stack
from tests.deploy.live_stations import booted_station
from tests.gateway.conformance.station import StrictStation

STATION = {"ocpp1.6": "OCTT-16", "ocpp2.0.1": "OCTT-201"}
LATER = "2099-01-01T00:00:00Z"


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
    # --- OCPP 2.0.1 ---
    Case("B_06_CSMS", V201, "commands/get-configuration",
         {"keys": ["OCPPCommCtrlr.HeartbeatInterval"]}, "GetVariables"),
    Case("B_07_CSMS", V201, "commands/get-base-report", {"report_base": "ConfigurationInventory"},
         "GetBaseReport", {"reportBase": "ConfigurationInventory"}),
    Case("B_08_CSMS", V201, "commands/get-base-report", {"report_base": "FullInventory"},
         "GetBaseReport", {"reportBase": "FullInventory"}),
    Case("B_09_CSMS", V201, "commands/change-configuration",
         {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "60"}, "SetVariables"),
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
