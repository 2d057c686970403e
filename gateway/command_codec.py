"""What the per-version command translators share."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.timestamps import format_timestamp, utcnow
from optimizer.charging_profile import ChargingProfile, Period

Encoded = tuple[str, dict[str, Any]]
"""An OCPP action and its request payload."""


class NotAvailable(Exception):
    """The command (or these arguments) has no form in the station's OCPP version."""

    def __init__(self, reason: str, *, invalid: bool = False) -> None:
        super().__init__(reason)
        # True: the arguments are wrong for the version; False: the operation is missing.
        self.invalid = invalid


def drop_none(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without absent optional fields (OCPP forbids nulls)."""
    return {k: v for k, v in payload.items() if v is not None}


def schedule_period(period: Period) -> dict[str, Any]:
    """A charging schedule period (the same shape in every OCPP version)."""
    item: dict[str, Any] = {"startPeriod": period.start_s, "limit": period.limit}
    if period.phases is not None:
        item["numberPhases"] = period.phases
    return item


def schedule_periods(schedule: dict[str, Any]) -> list[Period]:
    """The periods of an OCPP charging schedule."""
    return [
        Period(p["startPeriod"], p["limit"], p.get("numberPhases"))
        for p in schedule["chargingSchedulePeriod"]
    ]


def schedule_stamp(moment: datetime) -> str:
    """A schedule's start as OCPP writes it (UTC, milliseconds)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def charging_schedule(profile: ChargingProfile) -> dict[str, Any]:
    """A profile's schedule as every OCPP version writes it (2.x adds an id)."""
    return {
        "duration": profile.duration_s,
        "startSchedule": schedule_stamp(profile.start),
        "chargingRateUnit": profile.rate_unit,
        "chargingSchedulePeriod": [schedule_period(p) for p in profile.periods],
    }


def profile_of(
    *,
    profile_id: int,
    purpose: str,
    stack_level: int,
    connector: int,
    schedule: dict[str, Any],
    transaction_id: str | None,
) -> ChargingProfile:
    """A neutral profile from the parts of a SetChargingProfile request (any version)."""
    return ChargingProfile(
        profile_id=profile_id,
        purpose="TxProfile" if purpose == "TxProfile" else "StationMax",
        stack_level=stack_level,
        connector=connector,
        start=datetime.fromisoformat(schedule["startSchedule"]),
        duration_s=schedule["duration"],
        rate_unit=schedule["chargingRateUnit"],
        periods=schedule_periods(schedule),
        transaction_id=transaction_id,
    )


def signed_firmware(command: Any) -> dict[str, Any]:
    """The ``firmware`` object of a 1.6 SignedUpdateFirmware or a 2.x UpdateFirmware
    (the same shape in both)."""
    return drop_none(
        {
            "location": command.location,
            # Required: "now" when the caller left it open.
            "retrieveDateTime": format_timestamp(command.retrieve_at or utcnow()),
            "installDateTime": command.install_at and format_timestamp(command.install_at),
            "signingCertificate": command.signing_certificate,
            "signature": command.signature,
        }
    )
