"""Meter values of every OCPP version, normalised to domain readings (Wh, W, A, V, ...)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.bounds import MAX_SAMPLE
from gateway.rpc import OcppError
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


@dataclass
class Sampled:
    """The readings of a message, and a note for each sample that was dropped."""

    readings: list[MeterReading] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def keep(self, reading: MeterReading) -> None:
        """Keep ``reading`` unless its value is beyond any real meter's."""
        if abs(reading.value) > MAX_SAMPLE:
            self.dropped.append(
                f"{reading.measurand} sample {reading.value:g} {reading.unit} out of range: dropped"
            )
        else:
            self.readings.append(reading)


def _sample_time(meter_value: dict[str, Any], sampled: Sampled) -> datetime | None:
    try:
        return parse_timestamp(meter_value["timestamp"], field="meterValue.timestamp")
    except OcppError:
        count = len(meter_value["sampledValue"])
        sampled.dropped.append(
            f"meterValue at {str(meter_value['timestamp'])[:40]!r} has an unusable time: "
            f"{count} sample(s) dropped"
        )
        return None


def readings_v16(meter_values: list[dict[str, Any]]) -> Sampled:
    """OCPP 1.6 MeterValue objects: values are strings, units named.

    A value that is not a number, or not a plausible one, is dropped with a note
    rather than refusing the message: a refused StopTransaction is retried forever.
    """
    sampled = Sampled()
    for meter_value in meter_values:
        at = _sample_time(meter_value, sampled)
        if at is None:
            continue
        for value in meter_value["sampledValue"]:
            if value.get("format") == "SignedData":
                continue  # signed meter data is not a number: not for the numeric table
            try:
                raw = float(value["value"])
            except ValueError:
                raw = math.nan
            if not math.isfinite(raw):
                sampled.dropped.append(
                    f"sampledValue {str(value['value'])[:40]!r} is not a number: dropped"
                )
                continue
            sampled.keep(_reading(at, value, raw, value.get("unit")))
    return sampled


def readings_v2(meter_values: list[dict[str, Any]]) -> Sampled:
    """OCPP 2.0.1 / 2.1 MeterValue objects: numeric values with a power-of-ten multiplier."""
    sampled = Sampled()
    for meter_value in meter_values:
        at = _sample_time(meter_value, sampled)
        if at is None:
            continue
        for value in meter_value["sampledValue"]:
            unit_of_measure = value.get("unitOfMeasure") or {}
            multiplier = unit_of_measure.get("multiplier", 0)
            if not -30 <= multiplier <= 30:
                sampled.dropped.append(
                    f"unitOfMeasure.multiplier {multiplier} is not plausible: sample dropped"
                )
                continue
            number = float(value["value"]) * 10.0**multiplier
            sampled.keep(_reading(at, value, number, unit_of_measure.get("unit")))
    return sampled
