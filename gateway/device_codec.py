"""2.x device-model commands (display messages, monitoring, customer information,
reports, network profiles, transaction status, running cost) to CALLs and back.

OCPP 1.6 has none of these operations: its encoder refuses them as not supported.
"""

from __future__ import annotations

from typing import Any

from gateway.command_codec import Encoded, NotAvailable, drop_none
from gateway.timestamps import format_timestamp
from workflows import device_commands as d

COMMANDS_2X_ONLY = (
    d.SetDisplayMessage,
    d.GetDisplayMessages,
    d.ClearDisplayMessage,
    d.SetVariableMonitoring,
    d.ClearVariableMonitoring,
    d.SetMonitoringBase,
    d.SetMonitoringLevel,
    d.GetMonitoringReport,
    d.GetReport,
    d.CustomerInformation,
    d.SetNetworkProfile,
    d.GetTransactionStatus,
    d.CostUpdated,
)


def component_of(key: str) -> dict[str, Any]:
    """``{"component": ..., "variable": ...}`` of ``Component.Variable``; a bare
    ``Component`` names the whole component."""
    component, _, variable = key.partition(".")
    if not component:
        raise NotAvailable(f"{key!r}: name a Component or Component.Variable", invalid=True)
    named: dict[str, Any] = {"component": {"name": component}}
    if variable:
        named["variable"] = {"name": variable}
    return named


def _variable(key: str) -> dict[str, Any]:
    named = component_of(key)
    if "variable" not in named:
        raise NotAvailable(f"{key!r}: a monitor watches a Component.Variable", invalid=True)
    return named


def encode16(command: Any) -> Encoded | None:
    """Refuses every device-model command: 1.6 has no such operation."""
    if isinstance(command, COMMANDS_2X_ONLY):
        raise NotAvailable(f"{type(command).__name__} is an OCPP 2.x operation")
    return None


def encode2(command: Any) -> Encoded | None:
    """The 2.x form of a device-model command; None: not one of them."""
    match command:
        case d.SetDisplayMessage():
            content = drop_none(
                {
                    "format": command.text_format,
                    "language": command.language,
                    "content": command.text,
                }
            )
            return "SetDisplayMessage", {
                "message": drop_none(
                    {
                        "id": command.message_id,
                        "priority": command.priority,
                        "state": command.state,
                        "startDateTime": command.start and format_timestamp(command.start),
                        "endDateTime": command.end and format_timestamp(command.end),
                        "transactionId": command.transaction_id,
                        "message": content,
                    }
                )
            }
        case d.GetDisplayMessages():
            return "GetDisplayMessages", drop_none(
                {
                    "requestId": command.request_id,
                    "id": command.message_ids or None,
                    "priority": command.priority,
                    "state": command.state,
                }
            )
        case d.ClearDisplayMessage():
            return "ClearDisplayMessage", {"id": command.message_id}
        case d.SetVariableMonitoring():
            return "SetVariableMonitoring", {
                "setMonitoringData": [
                    drop_none(
                        {
                            "id": m.monitor_id,
                            "transaction": m.transaction,
                            "value": m.value,
                            "type": m.kind,
                            "severity": m.severity,
                            **_variable(m.key),
                        }
                    )
                    for m in command.monitors
                ]
            }
        case d.ClearVariableMonitoring():
            return "ClearVariableMonitoring", {"id": command.monitor_ids}
        case d.SetMonitoringBase():
            return "SetMonitoringBase", {"monitoringBase": command.base}
        case d.SetMonitoringLevel():
            return "SetMonitoringLevel", {"severity": command.severity}
        case d.GetMonitoringReport():
            return "GetMonitoringReport", drop_none(
                {
                    "requestId": command.request_id,
                    "monitoringCriteria": command.criteria or None,
                    "componentVariable": [component_of(k) for k in command.keys] or None,
                }
            )
        case d.GetReport():
            return "GetReport", drop_none(
                {
                    "requestId": command.request_id,
                    "componentCriteria": command.criteria or None,
                    "componentVariable": [component_of(k) for k in command.keys] or None,
                }
            )
        case d.CustomerInformation():
            token = command.id_token and {"idToken": command.id_token, "type": command.token_type}
            return "CustomerInformation", drop_none(
                {
                    "requestId": command.request_id,
                    "report": command.report,
                    "clear": command.clear,
                    "idToken": token,
                    "customerIdentifier": command.customer_identifier,
                }
            )
        case d.SetNetworkProfile():
            return "SetNetworkProfile", {
                "configurationSlot": command.slot,
                "connectionData": {
                    # 2.1 ignores the version (the handshake decides); 2.0.1 requires it.
                    "ocppVersion": "OCPP20",
                    "ocppTransport": "JSON",
                    "ocppCsmsUrl": command.url,
                    "messageTimeout": command.message_timeout_s,
                    "securityProfile": command.security_profile,
                    "ocppInterface": command.interface,
                },
            }
        case d.GetTransactionStatus():
            return "GetTransactionStatus", drop_none({"transactionId": command.transaction_id})
        case d.CostUpdated():
            return "CostUpdated", {
                "totalCost": command.total_cost,
                "transactionId": command.transaction_id,
            }
    return None


def _key(result: dict[str, Any]) -> str:
    variable = result.get("variable", {}).get("name")
    return result["component"]["name"] + (f".{variable}" if variable else "")


def _overall(statuses: list[str]) -> str:
    # Several items in one answer: Accepted only when every item was.
    return "Accepted" if statuses and all(s == "Accepted" for s in statuses) else "Rejected"


def decode2(command: Any, response: dict[str, Any]) -> tuple[str | None, dict[str, Any]] | None:
    """The neutral status and data of a device-model answer; None: not one of them."""
    match command:
        case d.SetVariableMonitoring():
            monitors = [
                drop_none({"key": _key(r), "status": r["status"], "monitor_id": r.get("id")})
                for r in response["setMonitoringResult"]
            ]
            return _overall([m["status"] for m in monitors]), {"monitors": monitors}
        case d.ClearVariableMonitoring():
            cleared = [
                {"monitor_id": r["id"], "status": r["status"]}
                for r in response["clearMonitoringResult"]
            ]
            return _overall([m["status"] for m in cleared]), {"monitors": cleared}
        case d.GetTransactionStatus():
            return None, drop_none(
                {
                    "ongoing": response.get("ongoingIndicator"),
                    "messages_in_queue": response["messagesInQueue"],
                }
            )
        case d.CostUpdated():
            return None, {}
    if isinstance(command, COMMANDS_2X_ONLY):
        return response.get("status"), {}
    return None
