"""Every neutral command encodes to a schema-valid CALL in each OCPP version."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.converter import AdvancedJSONEncoder, value_to_type

from gateway import commands2, commands16, schemas
from gateway.command_codec import NotAvailable
from optimizer import profiles
from workflows import commands as c
from workflows.commands import CommandRequest

WHEN = datetime(2030, 1, 1, 10, tzinfo=UTC)
_PROFILE = profiles.ChargingProfile(
    101, "TxProfile", 1, 1, WHEN, 3600, "A", [profiles.Period(0, 16.0, 3)], "42"
)

SAMPLES: list[Any] = [
    c.RemoteStart(id_token="TAG-1", evse_id=1, remote_start_id=7),
    c.RemoteStop(transaction_id="17"),
    c.Reset(kind="hard", when="idle", evse_id=None),
    c.UnlockConnector(connector_id=2, evse_id=1),
    c.ChangeAvailability(operative=False, evse_id=1, connector_id=1),
    c.ChangeAvailability(operative=True),
    c.GetConfiguration(keys=["OCPPCommCtrlr.HeartbeatInterval"]),
    c.ChangeConfiguration(key="OCPPCommCtrlr.HeartbeatInterval", value="60"),
    c.GetBaseReport(request_id=3),
    c.TriggerMessage(message="StatusNotification", evse_id=1, connector_id=1),
    c.ClearCache(),
    c.SendLocalList(
        list_version=2,
        update_type="Differential",
        entries=[
            c.LocalListEntry(id_token="A", expires_at=WHEN),
            c.LocalListEntry(id_token="B", status=None),
        ],
    ),
    c.SendLocalList(list_version=1),
    c.GetLocalListVersion(),
    c.ReserveNow(reservation_id=4, id_token="TAG-1", expires_at=WHEN, evse_id=1),
    c.CancelReservation(reservation_id=4),
    c.UploadLogs(location="https://csms.test/up", request_id=2, since=WHEN, until=WHEN),
    c.DataTransfer(vendor_id="com.acme", message_id="x", data="y"),
    c.UpdateFirmware(location="https://fw.test/a.bin", request_id=9, retrieve_at=WHEN, retries=3),
    c.UpdateFirmware(
        location="https://fw.test/a.bin",
        request_id=9,
        install_at=WHEN,
        signature="c2ln",
        signing_certificate="-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----",
    ),
    c.PublishFirmware(location="https://fw.test/a.bin", checksum="0" * 32, request_id=5),
    c.UnpublishFirmware(checksum="0" * 32),
    c.ClearChargingProfile(evse_id=1, purpose="TxProfile"),
    c.ClearChargingProfile(profile_id=101),
    c.ClearChargingProfile(purpose="StationMax", stack_level=0),
    c.SetChargingProfile(profile=_PROFILE),
    # As queued by an earlier version: both encodings, no profile.
    c.SetChargingProfile(
        request_16=commands16.charging_profile(_PROFILE),
        request_2x=commands2.charging_profile(_PROFILE),
    ),
]

# Commands 1.6 cannot express (its answer is a clear CommandNotSupported / InvalidCommand).
NOT_IN_16 = (c.GetBaseReport, c.PublishFirmware, c.UnpublishFirmware)


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
@pytest.mark.parametrize("command", SAMPLES, ids=lambda cmd: type(cmd).__name__)
def test_encoded_calls_pass_the_official_schemas(version: str, command: Any) -> None:
    """What the gateway would send validates against the version's request schema."""
    codec = commands16 if version == "1.6" else commands2
    if version == "1.6" and isinstance(command, NOT_IN_16):
        with pytest.raises(NotAvailable):
            codec.encode(command)
        return
    action, payload = codec.encode(command)
    schemas.validate(version, action, payload, response=False, message_id="t")


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
def test_password_rotation_calls_pass_the_schemas(version: str) -> None:
    """AuthorizationKey (1.6) and SecurityCtrlr.BasicAuthPassword (2.x)."""
    codec = commands16 if version == "1.6" else commands2
    action, payload = codec.rotate_password(codec.new_password())
    schemas.validate(version, action, payload, response=False, message_id="t")


def test_a_16_authorization_key_is_hex_of_16_to_20_bytes() -> None:
    """What a compliant 1.6 station takes: the generated password's bytes as hex."""
    password = commands16.new_password()
    _, payload = commands16.rotate_password(password)
    assert bytes.fromhex(payload["value"]).decode() == password
    assert len(payload["value"]) == 40
    with pytest.raises(NotAvailable, match="16 to 20 bytes"):
        commands16.rotate_password("x" * 32)


def test_2x_refuses_what_it_cannot_address() -> None:
    """Flat keys, a connector without its EVSE, a remote start without an id."""
    with pytest.raises(NotAvailable, match=r"Component\.Variable"):
        commands2.encode(c.ChangeConfiguration(key="HeartbeatInterval", value="1"))
    with pytest.raises(NotAvailable, match="evse_id"):
        commands2.encode(c.ChangeAvailability(operative=True, connector_id=1))
    with pytest.raises(NotAvailable, match="remote_start_id"):
        commands2.encode(c.RemoteStart(id_token="A"))
    with pytest.raises(NotAvailable, match="keys"):
        commands2.encode(c.GetConfiguration())


def test_1x_decodes_configuration_with_unknown_keys() -> None:
    """Known keys with values and read-only flags; unknown keys flagged as such."""
    status, data = commands16.decode(
        c.GetConfiguration(keys=["A", "B"]),
        {"configurationKey": [{"key": "A", "readonly": True, "value": "1"}], "unknownKey": ["B"]},
    )
    assert status == "Accepted"
    assert data["values"] == [
        {"key": "A", "value": "1", "readonly": True, "status": "Accepted"},
        {"key": "B", "value": None, "readonly": None, "status": "UnknownVariable"},
    ]


def test_command_values_are_checked_on_construction() -> None:
    """The dataclasses refuse impossible values (the API turns these into 422s)."""
    with pytest.raises(ValueError):
        c.RemoteStart(id_token="")
    with pytest.raises(ValueError):
        c.SendLocalList(list_version=0)
    with pytest.raises(ValueError):
        c.ChangeAvailability(operative=True, evse_id=-1)


@pytest.mark.parametrize("version", ["1.6", "2.0.1", "2.1"])
def test_a_neutral_profile_survives_the_trip_through_temporal(version: str) -> None:
    """The command as the site's activity sends it (asdict into the request's arguments,
    JSON through Temporal) decodes in the gateway to the same profile and encodes to the
    station's version."""
    request = CommandRequest.of("ST-1", c.SetChargingProfile(profile=_PROFILE), "r-1")
    arguments = json.loads(json.dumps(request.arguments, cls=AdvancedJSONEncoder))
    command = value_to_type(c.SetChargingProfile, arguments)
    assert command.profile == _PROFILE
    codec = commands16 if version == "1.6" else commands2
    action, payload = codec.encode(command)
    schemas.validate(version, action, payload, response=False, message_id="t")
    assert codec.parse_charging_profile(payload) == _PROFILE


def test_firmware_updates_take_the_signed_form_when_signed() -> None:
    """1.6: a plain image is UpdateFirmware (its empty answer is acceptance), a signed one
    the security extension's SignedUpdateFirmware; 2.x always UpdateFirmware."""
    plain = c.UpdateFirmware(location="https://fw.test/a.bin", request_id=9)
    signed = c.UpdateFirmware(
        location="https://fw.test/a.bin", request_id=9, signature="s", signing_certificate="c"
    )
    assert commands16.encode(plain)[0] == "UpdateFirmware"
    assert commands16.decode(plain, {}) == ("Accepted", {})
    action, payload = commands16.encode(signed)
    assert action == "SignedUpdateFirmware" and payload["firmware"]["signature"] == "s"
    assert commands16.decode(signed, {"status": "InvalidCertificate"})[0] == "InvalidCertificate"
    assert commands2.encode(plain)[0] == commands2.encode(signed)[0] == "UpdateFirmware"
    with pytest.raises(ValueError, match="signing certificate"):
        c.UpdateFirmware(location="https://fw.test/a.bin", request_id=1, signature="s")
