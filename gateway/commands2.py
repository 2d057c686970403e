"""OCPP 2.0.1 and 2.1: version-neutral charger commands to CALLs, and the answers back.

Configuration keys are ``Component.Variable`` names (``OCPPCommCtrlr.HeartbeatInterval``)
in the device model; 1.6-style flat keys have no meaning here.
"""

from __future__ import annotations

import secrets
from typing import Any

from gateway import certificate_codec, device_codec, profile_codec
from gateway.command_codec import (
    Encoded,
    NotAvailable,
    charging_schedule,
    drop_none,
    profile_of,
    signed_firmware,
)
from gateway.timestamps import format_timestamp
from optimizer.charging_profile import ChargingProfile
from workflows import commands as c
from workflows.profile_commands import GetCompositeSchedule


def component_variable(key: str) -> dict[str, Any]:
    """``{"component": ..., "variable": ...}`` of a ``Component.Variable`` key."""
    component, _, variable = key.partition(".")
    if not component or not variable:
        raise NotAvailable(
            f"{key!r}: 2.x configuration keys are Component.Variable names", invalid=True
        )
    return {"component": {"name": component}, "variable": {"name": variable}}


def _evse(evse_id: int | None, connector_id: int | None) -> dict[str, Any] | None:
    if evse_id is None:
        if connector_id is not None:
            raise NotAvailable(
                "2.x addresses a connector within its EVSE: give evse_id too", invalid=True
            )
        return None
    return drop_none({"id": evse_id, "connectorId": connector_id})


def encode(command: Any) -> Encoded:
    """The 2.x action and payload of a command."""
    match command:
        case c.RemoteStart():
            if command.remote_start_id is None:
                raise NotAvailable("a 2.x remote start needs a remote_start_id", invalid=True)
            return "RequestStartTransaction", drop_none(
                {
                    "evseId": command.evse_id,
                    "remoteStartId": command.remote_start_id,
                    "idToken": {"idToken": command.id_token, "type": command.token_type},
                    "chargingProfile": command.charging_profile
                    and profile_codec.start_profile2(command.charging_profile),
                }
            )
        case c.RemoteStop():
            return "RequestStopTransaction", {"transactionId": command.transaction_id}
        case c.Reset():
            # 2.x has no soft/hard distinction: the station decides how to reboot.
            return "Reset", drop_none(
                {
                    "type": "OnIdle" if command.when == "idle" else "Immediate",
                    "evseId": command.evse_id,
                }
            )
        case c.UnlockConnector():
            return "UnlockConnector", {
                "evseId": command.evse_id,
                "connectorId": command.connector_id,
            }
        case c.ChangeAvailability():
            return "ChangeAvailability", drop_none(
                {
                    "operationalStatus": "Operative" if command.operative else "Inoperative",
                    "evse": _evse(command.evse_id, command.connector_id),
                }
            )
        case c.GetConfiguration():
            if not command.keys:
                raise NotAvailable(
                    "2.x reads named variables: give keys, or ask for a base report", invalid=True
                )
            return "GetVariables", {
                "getVariableData": [component_variable(k) for k in command.keys]
            }
        case c.ChangeConfiguration():
            return "SetVariables", {
                "setVariableData": [
                    {
                        **component_variable(command.key_2x or command.key),
                        "attributeValue": command.value,
                    }
                ]
            }
        case c.SetVariables():
            return "SetVariables", {
                "setVariableData": [
                    {**component_variable(x.key_2x or x.key), "attributeValue": x.value}
                    for x in command.settings
                ]
            }
        case c.GetBaseReport():
            return "GetBaseReport", {
                "requestId": command.request_id or 1,
                "reportBase": command.report_base,
            }
        case c.TriggerMessage():
            return "TriggerMessage", drop_none(
                {
                    "requestedMessage": command.message,
                    "evse": _evse(command.evse_id, command.connector_id),
                }
            )
        case c.ClearCache():
            return "ClearCache", {}
        case c.SendLocalList():
            entries = []
            for entry in command.entries:
                item: dict[str, Any] = {
                    "idToken": {"idToken": entry.id_token, "type": entry.token_type}
                }
                if entry.status is not None:
                    info: dict[str, Any] = {"status": entry.status}
                    if entry.expires_at is not None:
                        info["cacheExpiryDateTime"] = format_timestamp(entry.expires_at)
                    item["idTokenInfo"] = info
                entries.append(item)
            payload: dict[str, Any] = {
                "versionNumber": command.list_version,
                "updateType": command.update_type,
            }
            if entries:
                payload["localAuthorizationList"] = entries
            return "SendLocalList", payload
        case c.GetLocalListVersion():
            return "GetLocalListVersion", {}
        case c.ReserveNow():
            if command.connector_type is not None and command.evse_id is not None:
                raise NotAvailable("reserve an EVSE or a connector type, not both", invalid=True)
            group = command.group_id_token and {
                "idToken": command.group_id_token,
                "type": command.token_type,
            }
            return "ReserveNow", drop_none(
                {
                    "id": command.reservation_id,
                    "expiryDateTime": format_timestamp(command.expires_at),
                    "idToken": {"idToken": command.id_token, "type": command.token_type},
                    "evseId": command.evse_id,
                    "connectorType": command.connector_type,
                    "groupIdToken": group,
                }
            )
        case c.CancelReservation():
            return "CancelReservation", {"reservationId": command.reservation_id}
        case c.UploadLogs():
            log = drop_none(
                {
                    "remoteLocation": command.location,
                    "oldestTimestamp": command.since and format_timestamp(command.since),
                    "latestTimestamp": command.until and format_timestamp(command.until),
                }
            )
            return "GetLog", {
                "log": log,
                "logType": command.log_type,
                "requestId": command.request_id,
            }
        case c.UpdateFirmware():
            return "UpdateFirmware", drop_none(
                {
                    "requestId": command.request_id,
                    "retries": command.retries,
                    "retryInterval": command.retry_interval_s,
                    "firmware": signed_firmware(command),
                }
            )
        case c.PublishFirmware():
            return "PublishFirmware", drop_none(
                {
                    "location": command.location,
                    "checksum": command.checksum,
                    "requestId": command.request_id,
                    "retries": command.retries,
                    "retryInterval": command.retry_interval_s,
                }
            )
        case c.UnpublishFirmware():
            return "UnpublishFirmware", {"checksum": command.checksum}
        case c.SetChargingProfile(profile=ChargingProfile() as profile):
            return "SetChargingProfile", charging_profile(profile)
        case c.SetChargingProfile():
            # Queued by an earlier version, already encoded for both version families.
            if command.request_2x is None:
                raise NotAvailable("a charging profile command without a profile", invalid=True)
            return "SetChargingProfile", command.request_2x
        case c.ClearChargingProfile():
            purpose = {"StationMax": "ChargingStationMaxProfile"}.get(
                command.purpose or "", command.purpose
            )
            criteria = drop_none(
                {
                    "evseId": command.evse_id,
                    "chargingProfilePurpose": purpose,
                    "stackLevel": command.stack_level,
                }
            )
            clear: dict[str, Any] = drop_none({"chargingProfileId": command.profile_id})
            if criteria:
                clear["chargingProfileCriteria"] = criteria
            return "ClearChargingProfile", clear
        case c.DataTransfer():
            return "DataTransfer", drop_none(
                {
                    "vendorId": command.vendor_id,
                    "messageId": command.message_id,
                    "data": command.data,
                }
            )
    for extra in (profile_codec.encode2, device_codec.encode2, certificate_codec.encode2):
        encoded = extra(command)
        if encoded is not None:
            return encoded
    raise NotAvailable(f"{type(command).__name__} has no OCPP 2.x form")


def new_password() -> str:
    """A generated 2.x ``BasicAuthPassword``: 32 characters, within its 16..40."""
    return secrets.token_urlsafe(24)


def rotate_password(password: str) -> Encoded:
    """SetVariables of ``SecurityCtrlr.BasicAuthPassword``."""
    return "SetVariables", {
        "setVariableData": [
            {**component_variable("SecurityCtrlr.BasicAuthPassword"), "attributeValue": password}
        ]
    }


def _key(result: dict[str, Any]) -> str:
    return f"{result['component']['name']}.{result['variable']['name']}"


def decode(command: Any, response: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The neutral status and data of a 2.x answer."""
    match command:
        case c.GetConfiguration():
            values = [
                {
                    "key": _key(r),
                    "value": r.get("attributeValue"),
                    "readonly": None,
                    "status": r["attributeStatus"],
                }
                for r in response["getVariableResult"]
            ]
            ok = any(v["status"] == "Accepted" for v in values)
            return ("Accepted" if ok else "Rejected"), {"values": values}
        case c.SetVariables():
            results = [
                {"key": _key(r), "status": r["attributeStatus"]}
                for r in response["setVariableResult"]
            ]
            return None, {"results": results}
        case c.ChangeConfiguration() | c.RotatePassword():
            # One variable was set: its attribute status is the command's status.
            return response["setVariableResult"][0]["attributeStatus"], {}
        case c.GetLocalListVersion():
            return "Accepted", {"list_version": response["versionNumber"]}
        case c.RemoteStart():
            return response.get("status"), drop_none(
                {"transaction_id": response.get("transactionId")}
            )
        case c.UploadLogs():
            return response.get("status"), drop_none({"file_name": response.get("filename")})
        case c.DataTransfer():
            return response.get("status"), drop_none({"data": response.get("data")})
        case GetCompositeSchedule():
            return response.get("status"), profile_codec.decode_schedule("2", response)
    for decoded in (
        device_codec.decode2(command, response),
        certificate_codec.decode("2", command, response),
    ):
        if decoded is not None:
            return decoded
    return response.get("status"), {}


def charging_profile(profile: ChargingProfile) -> dict[str, Any]:
    """The 2.0.1 / 2.1 SetChargingProfile request of a neutral profile."""
    purpose = "TxProfile" if profile.purpose == "TxProfile" else "ChargingStationMaxProfile"
    body: dict[str, Any] = {
        "id": profile.profile_id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [{"id": profile.profile_id, **charging_schedule(profile)}],
    }
    if profile.transaction_id is not None:
        body["transactionId"] = profile.transaction_id
    return {"evseId": profile.connector, "chargingProfile": body}


def parse_charging_profile(request: dict[str, Any]) -> ChargingProfile:
    """A 2.x SetChargingProfile request back to a neutral profile."""
    body = request["chargingProfile"]
    return profile_of(
        profile_id=body["id"],
        purpose=body["chargingProfilePurpose"],
        stack_level=body["stackLevel"],
        connector=request["evseId"],
        schedule=body["chargingSchedule"][0],
        transaction_id=body.get("transactionId"),
    )
