"""Pricing a settled session into what its CDR stores: cost lines, OCPI charging
periods and totals, and the tariff version that priced them.

The session's energy is the settlement's (meter start and stop, cross-checked with
the samples, see ``activities.sessions``); the samples only shape when it was
delivered, so the CDR's energy and the energy it bills are always the same figure.
What the session was doing when comes from the connector's status history: 1.6
StatusNotification and 2.x connector status and TransactionEvent chargingState.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from activities.billing.pricing import ChargingPeriod, CostLine, PricedSession
from activities.billing.tariffs import Tariff, parse_tariff
from activities.billing.timeline import (
    Activity,
    MeterSample,
    SessionTimeline,
    StatusChange,
    price_session,
)

# What a reported state means for the bill. A state not listed (Preparing at the
# start, 2.x Occupied, Reserved) says nothing about charging and changes nothing.
_STATUS = {
    "Charging": Activity.CHARGING,
    "SuspendedEV": Activity.PARKING,  # plugged in, the car takes nothing
    "Finishing": Activity.PARKING,  # charging over, the car still plugged in
    "SuspendedEVSE": Activity.SUSPENDED,  # the charger withholds: not the driver's
    "Faulted": Activity.SUSPENDED,
    "Unavailable": Activity.SUSPENDED,
    "Available": Activity.SUSPENDED,  # unplugged before the stop arrived
}
_CHARGING_STATE = {
    "Charging": Activity.CHARGING,
    "SuspendedEV": Activity.PARKING,
    "EVConnected": Activity.PARKING,  # connected, not charging
    "SuspendedEVSE": Activity.SUSPENDED,
    "Idle": Activity.SUSPENDED,  # no car connected
}


def activity_of(state: str, source: str) -> Activity | None:
    """What a reported status (``source`` status) or 2.x charging state
    (``charging_state``) means for pricing; None when it says nothing."""
    table = _CHARGING_STATE if source == "charging_state" else _STATUS
    return table.get(state)


def site_flat_tariff(site_id: str, price_per_kwh: Decimal, currency: str) -> Tariff:
    """The tariff a site's flat per-kWh price stands for (no VAT: none was set)."""
    return parse_tariff(
        {
            "id": f"site:{site_id}"[:36],
            "currency": currency,
            "elements": [
                {
                    "price_components": [
                        {"type": "ENERGY", "price": str(price_per_kwh), "step_size": 1}
                    ]
                }
            ],
        }
    )


@dataclass(frozen=True)
class PricedCdr:
    """A CDR's money, ready to store (numbers as decimal text in the JSON parts)."""

    tariff_id: str | None
    tariff_version: int | None
    currency: str
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    price_per_kwh: Decimal
    cost_lines: list[dict[str, Any]]
    charging_periods: list[dict[str, Any]]
    totals: dict[str, Any]
    notes: list[str]


@dataclass(frozen=True)
class SettledSession:
    """What settlement knows of a session: its times, settled energy and readings."""

    started_at: datetime
    stopped_at: datetime
    energy_wh: float
    meter_start_wh: float | None
    energy_samples: Sequence[tuple[datetime, float]] = ()
    current_samples: Sequence[tuple[datetime, float]] = ()
    reported: Sequence[tuple[datetime, str, str]] = ()  # (at, state, source)
    time_zone: str = "UTC"


def timeline_of(session: SettledSession) -> SessionTimeline:
    """The pricing timeline of a settled session, its energy exactly the settled one.

    The register's readings between the start reading and start + energy shape the
    curve; a reading outside that range, or below an earlier one, is not used (the
    settlement already judged the meter, and a fault must not bill twice).
    """
    energy = Decimal(str(session.energy_wh))
    base: Decimal | None = None
    if session.meter_start_wh is not None:
        base = Decimal(str(session.meter_start_wh))
    elif session.energy_samples:
        base = Decimal(str(min(value for _, value in session.energy_samples)))
    currents = dict(session.current_samples)
    samples: list[MeterSample] = []
    if base is not None:
        top, highest = base + energy, base
        for at, value in sorted(session.energy_samples):
            reading = Decimal(str(value))
            if not (session.started_at <= at <= session.stopped_at) or not (
                highest <= reading <= top
            ):
                continue
            highest = reading
            current = currents.get(at)
            samples.append(
                MeterSample(at, reading, None if current is None else Decimal(str(current)))
            )
    statuses = [
        StatusChange(at, activity)
        for at, state, source in sorted(session.reported, key=lambda r: r[0])
        if (activity := activity_of(state, source)) is not None
    ]
    return SessionTimeline(
        start=session.started_at,
        stop=max(session.stopped_at, session.started_at),
        meter_start_wh=base,
        meter_stop_wh=None if base is None else base + energy,
        samples=samples,
        statuses=statuses,
        time_zone=session.time_zone,
    )


def price_cdr(tariff: Tariff, version: int | None, session: SettledSession) -> PricedCdr:
    """Price a settled session with one tariff version (None: the site's flat price)."""
    priced = price_session(tariff, timeline_of(session))
    return _stored(priced, None if version is None else tariff.id, version)


def _stored(priced: PricedSession, tariff_id: str | None, version: int | None) -> PricedCdr:
    total = priced.total
    incl = total.incl_vat if total.incl_vat is not None else total.excl_vat
    energy_price = next(
        (line.unit_price for line in priced.lines if line.dimension == "ENERGY"), Decimal(0)
    )
    return PricedCdr(
        tariff_id=tariff_id,
        tariff_version=version,
        currency=priced.currency,
        total_excl_vat=total.excl_vat,
        total_vat=incl - total.excl_vat,
        total_incl_vat=incl,
        price_per_kwh=energy_price,
        cost_lines=[cost_line_json(line) for line in priced.lines],
        charging_periods=[period_json(period, priced.tariff_id) for period in priced.periods],
        totals=_text(priced.cdr_totals()),
        notes=list(priced.notes),
    )


def cost_line_json(line: CostLine) -> dict[str, Any]:
    """A cost line as stored and served (amounts as decimal text)."""
    return {
        "dimension": line.dimension,
        "category": line.category.value,
        "element": line.element,
        "quantity": str(line.quantity),
        "unit": line.unit,
        "unit_price": str(line.unit_price),
        "vat_rate": None if line.vat_rate is None else str(line.vat_rate),
        "excl_vat": str(line.excl_vat),
        "vat": str(line.vat),
        "incl_vat": str(line.incl_vat),
    }


def period_json(period: ChargingPeriod, tariff_id: str) -> dict[str, Any]:
    """An OCPI 2.2.1 CdrChargingPeriod (volumes as decimal text)."""
    return {
        "start_date_time": period.start.isoformat().replace("+00:00", "Z"),
        "end_date_time": period.end.isoformat().replace("+00:00", "Z"),
        "dimensions": [
            {"type": dimension, "volume": str(volume)}
            for dimension, volume in period.dimensions.items()
        ],
        "tariff_id": tariff_id,
    }


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _text(item) for key, item in value.items()}
    return value
