"""Meter values of every OCPP version, normalised to domain readings (Wh, W, A, V, ...)."""

from __future__ import annotations

from typing import Any

from gateway.rpc import ErrorKind, OcppError
from gateway.timestamps import parse_timestamp
from workflows.domain import ENERGY_REGISTER, MeterReading

# unit -> (normalised unit, factor)
_UNITS: dict[str, tuple[str, float]] = {
    "Wh": ("Wh", 1.0),
    "kWh": ("Wh", 1000.0),
    "varh": ("varh", 1.0),
    "kvarh": ("varh", 1000.0),
    "W": ("W", 1.0),
    "kW": ("W", 1000.0),
    "VA": ("VA", 1.0),
    "kVA": ("VA", 1000.0),
    "var": ("var", 1.0),
    "kvar": ("var", 1000.0),
}

# The unit a measurand has when the charger leaves it out (OCPP defaults to Wh).
_DEFAULT_UNIT = {
    "Power.Active.Import": "W",
    "Power.Active.Export": "W",
    "Power.Offered": "W",
    "Current.Import": "A",
    "Current.Export": "A",
    "Current.Offered": "A",
    "Voltage": "V",
    "Frequency": "Hz",
    "SoC": "Percent",
    "Temperature": "Celsius",
    "RPM": "RPM",
    "Power.Factor": "",
}


def _reading(at: Any, sampled: dict[str, Any], value: float, unit: str | None) -> MeterReading:
    measurand = sampled.get("measurand", ENERGY_REGISTER)
    unit = unit or _DEFAULT_UNIT.get(measurand, "Wh")
    norm_unit, factor = _UNITS.get(unit, (unit, 1.0))
    return MeterReading(
        sampled_at=at,
        measurand=measurand,
        value=value * factor,
        unit=norm_unit,
        phase=sampled.get("phase"),
        location=sampled.get("location"),
        context=sampled.get("context"),
    )


def readings_v16(meter_values: list[dict[str, Any]]) -> list[MeterReading]:
    """OCPP 1.6 MeterValue objects: values are strings, units named."""
    readings: list[MeterReading] = []
    for meter_value in meter_values:
        at = parse_timestamp(meter_value["timestamp"])
        for sampled in meter_value["sampledValue"]:
            if sampled.get("format") == "SignedData":
                continue  # signed meter data is not a number: not for the numeric table
            try:
                raw = float(sampled["value"])
            except ValueError:
                raise OcppError(
                    ErrorKind.PROPERTY, f"sampledValue.value {sampled['value']!r} is not a number"
                ) from None
            readings.append(_reading(at, sampled, raw, sampled.get("unit")))
    return readings


def readings_v2(meter_values: list[dict[str, Any]]) -> list[MeterReading]:
    """OCPP 2.0.1 / 2.1 MeterValue objects: numeric values with a power-of-ten multiplier."""
    readings: list[MeterReading] = []
    for meter_value in meter_values:
        at = parse_timestamp(meter_value["timestamp"])
        for sampled in meter_value["sampledValue"]:
            unit_of_measure = sampled.get("unitOfMeasure") or {}
            multiplier = unit_of_measure.get("multiplier", 0)
            if not -30 <= multiplier <= 30:
                raise OcppError(
                    ErrorKind.PROPERTY, f"unitOfMeasure.multiplier {multiplier} is not plausible"
                )
            value = float(sampled["value"]) * 10.0**multiplier
            readings.append(_reading(at, sampled, value, unit_of_measure.get("unit")))
    return readings
