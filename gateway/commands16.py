"""OCPP 1.6: version-neutral charger commands to CALLs, and the charger's answers back."""

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
from gateway.timestamps import format_timestamp, utcnow
from optimizer.charging_profile import ChargingProfile
from workflows import commands as c
from workflows.profile_commands import GetCompositeSchedule

VERSION = "1.6"

EXTENDED_TRIGGERS = {
    "LogStatusNotification": "LogStatusNotification",
    "SignChargePointCertificate": "SignChargePointCertificate",
    "SignChargingStationCertificate": "SignChargePointCertificate",
}
"""Messages only the security extension's ExtendedTriggerMessage can ask for (a
certificate renewal among them), by their neutral or 2.x name."""


def encode(command: Any) -> Encoded:
    """The 1.6 action and payload of a command."""
    match command:
        case c.RemoteStart():
            return "RemoteStartTransaction", drop_none(
                {
                    "connectorId": command.connector_id or command.evse_id,
                    "idTag": command.id_token,
                    "chargingProfile": command.charging_profile
                    and profile_codec.start_profile16(command.charging_profile),
                }
            )
        case c.RemoteStop():
            if not command.transaction_id.isdigit():
                raise NotAvailable("a 1.6 transaction id is an integer", invalid=True)
            return "RemoteStopTransaction", {"transactionId": int(command.transaction_id)}
        case c.Reset():
            # 1.6 resets are always "as soon as possible": a soft reset waits for
            # transactions to stop gracefully, which is what "idle" asks for.
            return "Reset", {"type": command.kind.capitalize()}
        case c.UnlockConnector():
            return "UnlockConnector", {"connectorId": command.connector_id}
        case c.ChangeAvailability():
            # 1.6 addresses connectors only; connector 0 is the whole station.
            connector = command.connector_id if command.connector_id is not None else 0
            if command.connector_id is None and command.evse_id:
                connector = command.evse_id
            kind = "Operative" if command.operative else "Inoperative"
            return "ChangeAvailability", {"connectorId": connector, "type": kind}
        case c.GetConfiguration():
            return "GetConfiguration", {"key": command.keys} if command.keys else {}
        case c.ChangeConfiguration():
            return "ChangeConfiguration", {"key": command.key, "value": command.value}
        case c.GetBaseReport():
            raise NotAvailable("OCPP 1.6 has no base report; use get-configuration")
        case c.SetVariables():
            # Sent as one ChangeConfiguration per setting (the command worker splits it).
            raise NotAvailable("1.6 sets one key at a time", invalid=True)
        case c.TriggerMessage(message=message) if message in EXTENDED_TRIGGERS:
            return "ExtendedTriggerMessage", drop_none(
                {
                    "requestedMessage": EXTENDED_TRIGGERS[message],
                    "connectorId": command.connector_id or command.evse_id,
                }
            )
        case c.TriggerMessage():
            return "TriggerMessage", drop_none(
                {
                    "requestedMessage": command.message,
                    "connectorId": command.connector_id or command.evse_id,
                }
            )
        case c.ClearCache():
            return "ClearCache", {}
        case c.SendLocalList():
            entries = []
            for entry in command.entries:
                item: dict[str, Any] = {"idTag": entry.id_token}
                if entry.status is not None:
                    info: dict[str, Any] = {"status": entry.status}
                    if entry.expires_at is not None:
                        info["expiryDate"] = format_timestamp(entry.expires_at)
                    item["idTagInfo"] = info
                entries.append(item)
            return "SendLocalList", {
                "listVersion": command.list_version,
                "updateType": command.update_type,
                "localAuthorizationList": entries,
            }
        case c.GetLocalListVersion():
            return "GetLocalListVersion", {}
        case c.ReserveNow():
            if command.connector_type is not None:
                raise NotAvailable("1.6 reserves a connector, not a connector type", invalid=True)
            return "ReserveNow", drop_none(
                {
                    "connectorId": command.connector_id,
                    "expiryDate": format_timestamp(command.expires_at),
                    "idTag": command.id_token,
                    "parentIdTag": command.group_id_token,
                    "reservationId": command.reservation_id,
                }
            )
        case c.CancelReservation():
            return "CancelReservation", {"reservationId": command.reservation_id}
        case c.UploadLogs(log_type="SecurityLog"):
            # The security extension's GetLog: the same shape as 2.x's.
            return "GetLog", {
                "log": drop_none(
                    {
                        "remoteLocation": command.location,
                        "oldestTimestamp": command.since and format_timestamp(command.since),
                        "latestTimestamp": command.until and format_timestamp(command.until),
                    }
                ),
                "logType": "SecurityLog",
                "requestId": command.request_id,
            }
        case c.UploadLogs():
            return "GetDiagnostics", drop_none(
                {
                    "location": command.location,
                    "startTime": command.since and format_timestamp(command.since),
                    "stopTime": command.until and format_timestamp(command.until),
                }
            )
        case c.UpdateFirmware(signature=None):
            return "UpdateFirmware", drop_none(
                {
                    "location": command.location,
                    "retrieveDate": format_timestamp(command.retrieve_at or utcnow()),
                    "retries": command.retries,
                    "retryInterval": command.retry_interval_s,
                }
            )
        case c.UpdateFirmware():
            # Signed images need the security extension (its own action and status
            # notification, with a requestId like 2.x).
            return "SignedUpdateFirmware", drop_none(
                {
                    "requestId": command.request_id,
                    "retries": command.retries,
                    "retryInterval": command.retry_interval_s,
                    "firmware": signed_firmware(command),
                }
            )
        case c.PublishFirmware() | c.UnpublishFirmware():
            raise NotAvailable("local firmware distribution is OCPP 2.0.1 and later")
        case c.SetChargingProfile(profile=ChargingProfile() as profile):
            return "SetChargingProfile", charging_profile(profile)
        case c.SetChargingProfile():
            # Queued by an earlier version, already encoded for both version families.
            if command.request_16 is None:
                raise NotAvailable("a charging profile command without a profile", invalid=True)
            return "SetChargingProfile", command.request_16
        case c.ClearChargingProfile():
            purpose = {"StationMax": "ChargePointMaxProfile"}.get(
                command.purpose or "", command.purpose
            )
            return "ClearChargingProfile", drop_none(
                {
                    "id": command.profile_id,
                    "connectorId": command.evse_id,
                    "chargingProfilePurpose": purpose,
                    "stackLevel": command.stack_level,
                }
            )
        case c.DataTransfer():
            return "DataTransfer", drop_none(
                {
                    "vendorId": command.vendor_id,
                    "messageId": command.message_id,
                    "data": command.data,
                }
            )
    for extra in (profile_codec.encode16, device_codec.encode16, certificate_codec.encode16):
        encoded = extra(command)
        if encoded is not None:
            return encoded
    raise NotAvailable(f"{type(command).__name__} has no OCPP 1.6 form")


AUTHORIZATION_KEY_BYTES = 20
"""The security whitepaper's ``AuthorizationKey`` holds 16 to 20 bytes, written as hex."""


def new_password() -> str:
    """A generated 1.6 password: 20 printable bytes (120 bits of entropy), so the
    station's Basic credentials decode as text whichever way it reads the key."""
    return secrets.token_urlsafe(15)


def rotate_password(password: str) -> Encoded:
    """ChangeConfiguration of the security whitepaper's ``AuthorizationKey``: the
    password's bytes as hex; the station decodes them and presents them as its Basic
    password (a compliant station refuses a value that is not 16-20 bytes of hex)."""
    raw = password.encode()
    if not 16 <= len(raw) <= AUTHORIZATION_KEY_BYTES:
        raise NotAvailable("an AuthorizationKey is 16 to 20 bytes", invalid=True)
    return "ChangeConfiguration", {"key": "AuthorizationKey", "value": raw.hex()}


def decode(command: Any, response: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The neutral status and data of a 1.6 answer."""
    match command:
        case c.GetConfiguration():
            values = [
                {
                    "key": item["key"],
                    "value": item.get("value"),
                    "readonly": item.get("readonly", False),
                    "status": "Accepted",
                }
                for item in response.get("configurationKey", [])
            ]
            values += [
                {"key": key, "value": None, "readonly": None, "status": "UnknownVariable"}
                for key in response.get("unknownKey", [])
            ]
            return ("Accepted" if values else "Rejected"), {"values": values}
        case c.GetLocalListVersion():
            return "Accepted", {"list_version": response["listVersion"]}
        case c.UploadLogs(log_type="SecurityLog"):
            return response.get("status"), drop_none({"file_name": response.get("filename")})
        case GetCompositeSchedule():
            return response.get("status"), profile_codec.decode_schedule(VERSION, response)
        case c.UploadLogs():
            file_name = response.get("fileName")
            return ("Accepted" if file_name else "NoLogs"), {"file_name": file_name}
        case c.DataTransfer():
            return response.get("status"), drop_none({"data": response.get("data")})
        case c.UpdateFirmware(signature=None):
            # UpdateFirmware.conf is empty: the charger took the request.
            return "Accepted", {}
    certificates = certificate_codec.decode(VERSION, command, response)
    if certificates is not None:
        return certificates
    return response.get("status"), {}


def charging_profile(profile: ChargingProfile) -> dict[str, Any]:
    """The 1.6 SetChargingProfile request of a neutral profile."""
    purpose = "TxProfile" if profile.purpose == "TxProfile" else "ChargePointMaxProfile"
    body: dict[str, Any] = {
        "chargingProfileId": profile.profile_id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": charging_schedule(profile),
    }
    # 1.6 transaction ids are integers (ours: the primary key).
    if profile.transaction_id is not None and profile.transaction_id.isdigit():
        body["transactionId"] = int(profile.transaction_id)
    return {"connectorId": profile.connector, "csChargingProfiles": body}


def parse_charging_profile(request: dict[str, Any]) -> ChargingProfile:
    """A 1.6 SetChargingProfile request back to a neutral profile (round trips, audits)."""
    body = request["csChargingProfiles"]
    return profile_of(
        profile_id=body["chargingProfileId"],
        purpose=body["chargingProfilePurpose"],
        stack_level=body["stackLevel"],
        connector=request["connectorId"],
        schedule=body["chargingSchedule"],
        transaction_id=str(body["transactionId"]) if "transactionId" in body else None,
    )
