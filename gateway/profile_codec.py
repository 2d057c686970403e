"""Operators' charging profiles, profile reports and composite schedules in 1.6 and 2.x."""

from __future__ import annotations

from typing import Any

from gateway.command_codec import Encoded, NotAvailable, drop_none
from gateway.timestamps import format_timestamp
from workflows import profile_commands as p

PURPOSES_2X = {
    "StationMax": "ChargingStationMaxProfile",
    "TxDefault": "TxDefaultProfile",
    "Tx": "TxProfile",
    "PriorityCharging": "PriorityCharging",
    "LocalGeneration": "LocalGeneration",
}
PURPOSES_16 = {
    "StationMax": "ChargePointMaxProfile",
    "TxDefault": "TxDefaultProfile",
    "Tx": "TxProfile",
}


def _schedule(profile: p.OperatorChargingProfile | p.StartProfile) -> dict[str, Any]:
    return drop_none(
        {
            "duration": profile.duration_s,
            "startSchedule": profile.start and format_timestamp(profile.start),
            "chargingRateUnit": profile.rate_unit,
            "minChargingRate": profile.min_rate,
            "chargingSchedulePeriod": [
                drop_none({"startPeriod": x.start_s, "limit": x.limit, "numberPhases": x.phases})
                for x in profile.periods
            ],
        }
    )


def _validity(profile: p.OperatorChargingProfile) -> dict[str, Any]:
    return drop_none(
        {
            "chargingProfileKind": profile.kind,
            "recurrencyKind": profile.recurrency,
            "validFrom": profile.valid_from and format_timestamp(profile.valid_from),
            "validTo": profile.valid_to and format_timestamp(profile.valid_to),
        }
    )


def encode16(command: Any) -> Encoded | None:
    """The 1.6 form of a profile command; None: not one of them."""
    match command:
        case p.OperatorChargingProfile():
            purpose = PURPOSES_16.get(command.purpose)
            if purpose is None:
                raise NotAvailable(f"{command.purpose} profiles are OCPP 2.1's", invalid=True)
            tx = command.transaction_id
            if tx is not None and not tx.isdigit():
                raise NotAvailable("a 1.6 transaction id is an integer", invalid=True)
            body = {
                "chargingProfileId": command.profile_id,
                "stackLevel": command.stack_level,
                "chargingProfilePurpose": purpose,
                **_validity(command),
                "chargingSchedule": _schedule(command),
            }
            if tx is not None:
                body["transactionId"] = int(tx)
            return "SetChargingProfile", {
                "connectorId": command.evse_id,
                "csChargingProfiles": body,
            }
        case p.GetCompositeSchedule():
            return "GetCompositeSchedule", drop_none(
                {
                    "connectorId": command.evse_id,
                    "duration": command.duration_s,
                    "chargingRateUnit": command.rate_unit,
                }
            )
        case p.GetChargingProfiles():
            raise NotAvailable("OCPP 1.6 cannot report its charging profiles")
    return None


def encode2(command: Any) -> Encoded | None:
    """The 2.x form of a profile command; None: not one of them."""
    match command:
        case p.OperatorChargingProfile():
            body = drop_none(
                {
                    "id": command.profile_id,
                    "stackLevel": command.stack_level,
                    "chargingProfilePurpose": PURPOSES_2X[command.purpose],
                    **_validity(command),
                    "transactionId": command.transaction_id,
                    "chargingSchedule": [{"id": command.profile_id, **_schedule(command)}],
                }
            )
            return "SetChargingProfile", {"evseId": command.evse_id, "chargingProfile": body}
        case p.GetCompositeSchedule():
            return "GetCompositeSchedule", drop_none(
                {
                    "duration": command.duration_s,
                    "evseId": command.evse_id,
                    "chargingRateUnit": command.rate_unit,
                }
            )
        case p.GetChargingProfiles():
            criterion = drop_none(
                {
                    "chargingProfilePurpose": command.purpose and PURPOSES_2X[command.purpose],
                    "stackLevel": command.stack_level,
                    "chargingProfileId": command.profile_ids or None,
                    "chargingLimitSource": command.sources or None,
                }
            )
            return "GetChargingProfiles", drop_none(
                {
                    "requestId": command.request_id,
                    "evseId": command.evse_id,
                    "chargingProfile": criterion,
                }
            )
    return None


def _periods(schedule: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        drop_none(
            {
                "start_s": x["startPeriod"],
                "limit": x.get("limit"),
                "phases": x.get("numberPhases"),
            }
        )
        for x in schedule.get("chargingSchedulePeriod", [])
    ]


def decode_schedule(version: str, response: dict[str, Any]) -> dict[str, Any]:
    """A GetCompositeSchedule answer's schedule in neutral terms ({} when none)."""
    if version == "1.6":
        schedule = response.get("chargingSchedule")
        evse, start = response.get("connectorId"), response.get("scheduleStart")
        if schedule is not None:
            start = start or schedule.get("startSchedule")
    else:
        schedule = response.get("schedule")
        evse = schedule and schedule.get("evseId")
        start = schedule and schedule.get("scheduleStart")
    if schedule is None:
        return {}
    return {
        "schedule": drop_none(
            {
                "evse_id": evse,
                "start": start,
                "duration_s": schedule.get("duration"),
                "rate_unit": schedule["chargingRateUnit"],
                "periods": _periods(schedule),
            }
        )
    }


def start_profile16(profile: p.StartProfile) -> dict[str, Any]:
    """A remote start's ``chargingProfile`` in 1.6 (a TxProfile without transaction)."""
    return {
        "chargingProfileId": profile.profile_id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": profile.kind,
        "chargingSchedule": _schedule(profile),
    }


def start_profile2(profile: p.StartProfile) -> dict[str, Any]:
    """A remote start's ``chargingProfile`` in 2.x (K05: no transactionId)."""
    return {
        "id": profile.profile_id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": profile.kind,
        "chargingSchedule": [{"id": profile.profile_id, **_schedule(profile)}],
    }
