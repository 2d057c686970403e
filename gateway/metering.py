"""Normalisation of OCPP meter values into sample rows in Wh, W, A, V, Hz, % or varh."""

from __future__ import annotations

from typing import Any

from gateway.rpc import ErrorKind, OcppError
from gateway.timestamps import parse_timestamp

ENERGY_REGISTER = "Energy.Active.Import.Register"

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
    "A": ("A", 1.0),
    "V": ("V", 1.0),
    "K": ("K", 1.0),
    "Celsius": ("Celsius", 1.0),
    "Fahrenheit": ("Fahrenheit", 1.0),
    "Percent": ("Percent", 1.0),
}

# The unit a measurand has when the charger leaves it out (OCPP 1.6 defaults to Wh).
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


def normalise_v16(
    station_id: str,
    connector_id: int,
    transaction_pk: int | None,
    meter_values: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Rows for :func:`activities.persistence.repositories.meter_samples.add_samples`."""
    rows: list[dict[str, Any]] = []
    for meter_value in meter_values:
        at = parse_timestamp(meter_value["timestamp"])
        for sampled in meter_value["sampledValue"]:
            measurand = sampled.get("measurand", ENERGY_REGISTER)
            unit = sampled.get("unit") or _DEFAULT_UNIT.get(measurand, "Wh")
            if sampled.get("format") == "SignedData":
                continue  # signed meter data is not a number; kept out of the numeric table
            try:
                raw = float(sampled["value"])
            except ValueError:
                raise OcppError(
                    ErrorKind.PROPERTY, f"sampledValue.value {sampled['value']!r} is not a number"
                ) from None
            norm_unit, factor = _UNITS.get(unit, (unit, 1.0))
            rows.append(
                {
                    "transaction_pk": transaction_pk,
                    "station_id": station_id,
                    "connector_id": connector_id,
                    "sampled_at": at,
                    "measurand": measurand,
                    "phase": sampled.get("phase"),
                    "location": sampled.get("location"),
                    "context": sampled.get("context"),
                    "unit": norm_unit,
                    "value": raw * factor,
                }
            )
    return rows


def latest_reading(rows: list[dict[str, Any]]) -> tuple[float | None, float | None]:
    """The last whole-meter energy register (Wh) and active power (W) among ``rows``."""
    energy = power = None
    for row in rows:
        if row["phase"] is not None:
            continue
        if row["measurand"] == ENERGY_REGISTER:
            energy = row["value"]
        elif row["measurand"] == "Power.Active.Import":
            power = row["value"]
    return energy, power
