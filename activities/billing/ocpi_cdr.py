"""Pricing an OCPI 2.2.1 CDR's own ``charging_periods`` against an OCPI 2.2.1 Tariff.

This is how a third party's tariff and CDR are checked against each other: the
engine re-prices the CDR's periods and the totals are compared with the CDR's
``total_cost``, ``total_energy_cost``, ``total_time_cost``, ``total_parking_cost`` and
``total_fixed_cost``. A period ends where the next one starts (the last at the CDR's
``end_date_time``); its volumes are spread evenly over it when a restriction's
boundary falls inside. Power restrictions read the period's MIN_POWER / MAX_POWER
(or its average power when the CDR gives neither); current restrictions read
MIN_CURRENT / MAX_CURRENT and do not match a period that reports no current.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from activities.billing.pricing import ZERO, PricedSession, Usage, price_usage, to_ms
from activities.billing.tariffs import Tariff, parse_tariff

_THOUSAND = Decimal(1000)
_HOUR_S = Decimal(3600)
MAX_VOLUME = 10**9
"""No period's kWh, hours or amperes are larger."""


class CdrError(ValueError):
    """A CDR that cannot be priced, with the path of the offending field."""


def price_ocpi_cdr(
    cdr: Mapping[str, Any],
    tariffs: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    *,
    time_zone: str | None = None,
) -> PricedSession:
    """Price ``cdr``'s charging periods with its tariff.

    ``tariffs`` is an OCPI Tariff object or a list of them (the CDR's own ``tariffs``
    when omitted); the one the periods' ``tariff_id`` names is used. Local times are
    taken in ``time_zone``, else the CDR location's ``time_zone``, else UTC.
    """
    if not isinstance(cdr, Mapping):
        raise CdrError("a CDR must be a JSON object")
    periods = cdr.get("charging_periods")
    if not isinstance(periods, Sequence) or isinstance(periods, str) or not periods:
        raise CdrError("charging_periods: a CDR needs at least one charging period")
    tariff = _tariff(cdr, periods, tariffs)
    end = _moment(cdr.get("end_date_time"), "end_date_time")
    starts = [
        _moment(
            period.get("start_date_time") if isinstance(period, Mapping) else None,
            f"charging_periods[{index}].start_date_time",
        )
        for index, period in enumerate(periods)
    ]
    order = sorted(range(len(periods)), key=lambda i: starts[i])
    usages: list[Usage] = []
    for position, index in enumerate(order):
        period = periods[index]
        until = starts[order[position + 1]] if position + 1 < len(order) else end
        if until < starts[index]:
            raise CdrError(f"charging_periods[{index}]: starts after the CDR ends")
        usages.append(_usage(period, starts[index], until, f"charging_periods[{index}]"))
    expired = all(u.is_reservation for u in usages)
    location = cdr.get("cdr_location")
    zone = time_zone or (location.get("time_zone") if isinstance(location, Mapping) else None)
    if zone is not None:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise CdrError(f"time_zone: {zone!r} is not an IANA time zone") from None
    return price_usage(
        tariff,
        usages,
        time_zone=zone or "UTC",
        reservation_expired=expired,
        notes=_notes(tariff, usages, starts[order[0]], zone),
    )


def _notes(tariff: Tariff, usages: list[Usage], start: datetime, zone: str | None) -> list[str]:
    """What a reader of the totals should know about how the CDR was read."""
    notes = []
    limited = any(
        e.restrictions.min_current is not None or e.restrictions.max_current is not None
        for e in tariff.elements
    )
    if limited and any(u.charging_s and u.max_current_a is None for u in usages):
        notes.append(
            "the tariff has current restrictions and some charging periods report no "
            "MIN_CURRENT/MAX_CURRENT: those restrictions did not match there"
        )
    timed = any(
        e.restrictions.start_time
        or e.restrictions.day_of_week
        or e.restrictions.start_date
        or e.restrictions.end_date
        for e in tariff.elements
    )
    if timed and zone is None:
        notes.append("local times were taken in UTC (no time zone given)")
    if tariff.start_date_time is not None and start < tariff.start_date_time:
        notes.append("the session started before the tariff's start_date_time")
    if tariff.end_date_time is not None and start >= tariff.end_date_time:
        notes.append("the session started after the tariff's end_date_time")
    return notes


def _tariff(
    cdr: Mapping[str, Any],
    periods: Sequence[Any],
    given: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None,
) -> Tariff:
    candidates = given if given is not None else cdr.get("tariffs") or []
    if isinstance(candidates, Mapping):
        candidates = [candidates]
    if not isinstance(candidates, Sequence) or isinstance(candidates, str):
        raise CdrError("tariffs: a tariff object or a list of them is expected")
    if not candidates:
        raise CdrError("tariffs: no tariff given and the CDR carries none")
    named: set[str] = set()
    for index, period in enumerate(periods):
        if isinstance(period, Mapping) and period.get("tariff_id") is not None:
            if not isinstance(period["tariff_id"], str):
                raise CdrError(f"charging_periods[{index}].tariff_id: text is expected")
            named.add(period["tariff_id"])
    if len(named) > 1:
        raise CdrError(
            "charging_periods: the session switches tariffs "
            f"({', '.join(sorted(map(str, named)))}); price each tariff's periods apart"
        )
    chosen = candidates[0]
    if named and len(candidates) > 1:
        (wanted,) = named
        matches = [t for t in candidates if isinstance(t, Mapping) and t.get("id") == wanted]
        if not matches:
            raise CdrError(f"tariffs: the periods name tariff {wanted!r}, which is not given")
        chosen = matches[0]
    tariff = parse_tariff(chosen)
    currency = cdr.get("currency")
    if currency is not None and currency != tariff.currency:
        raise CdrError(f"currency: the CDR is in {currency}, its tariff in {tariff.currency}")
    return tariff


def _usage(period: Mapping[str, Any], start: datetime, end: datetime, path: str) -> Usage:
    dimensions = period.get("dimensions")
    if not isinstance(dimensions, Sequence) or isinstance(dimensions, str):
        raise CdrError(f"{path}.dimensions: a list of dimensions is required")
    values: dict[str, Decimal] = {}
    for position, item in enumerate(dimensions):
        where = f"{path}.dimensions[{position}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("type"), str):
            raise CdrError(f"{where}: a dimension has a type and a volume")
        try:
            volume = Decimal(str(item.get("volume")))
        except InvalidOperation:
            raise CdrError(f"{where}.volume: {item.get('volume')!r} is not a number") from None
        if not volume.is_finite() or abs(volume) > MAX_VOLUME:
            raise CdrError(f"{where}.volume: must be a finite number up to {MAX_VOLUME:,}")
        values[item["type"]] = values.get(item["type"], ZERO) + volume
    energy_wh = values.get("ENERGY", ZERO) * _THOUSAND
    charging_s = values.get("TIME", ZERO) * _HOUR_S
    parking_s = values.get("PARKING_TIME", ZERO) * _HOUR_S
    reservation_s = values.get("RESERVATION_TIME", ZERO) * _HOUR_S
    for name, seconds in (("TIME", charging_s), ("PARKING_TIME", parking_s)):
        if seconds < 0:
            raise CdrError(f"{path}: {name} cannot be negative")
    # Not charging, the vehicle draws nothing: a parking period is at 0 kW and 0 A.
    average = energy_wh / charging_s * _HOUR_S / _THOUSAND if charging_s > 0 else ZERO
    idle = ZERO if charging_s <= 0 else None
    return Usage(
        to_ms(start),
        to_ms(end),
        energy_wh=energy_wh,
        charging_s=charging_s,
        parking_s=parking_s,
        reservation_s=reservation_s,
        min_power_kw=values.get("MIN_POWER", values.get("MAX_POWER", average)),
        max_power_kw=values.get("MAX_POWER", values.get("MIN_POWER", average)),
        min_current_a=values.get("MIN_CURRENT", values.get("MAX_CURRENT", idle)),
        max_current_a=values.get("MAX_CURRENT", values.get("MIN_CURRENT", idle)),
    )


def _moment(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise CdrError(f"{path}: an RFC 3339 timestamp is required")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CdrError(f"{path}: {value!r} is not an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise CdrError(f"{path}: a timestamp needs a time zone (OCPI's are UTC, with a Z)")
    if not 1970 <= moment.year <= 9000:
        raise CdrError(f"{path}: {value!r} is not a plausible session time")
    return moment


def totals_json(priced: PricedSession) -> dict[str, Any]:
    """The CDR-shaped totals with plain JSON numbers (for printing)."""

    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        return value

    return {key: plain(value) for key, value in priced.cdr_totals().items()}
