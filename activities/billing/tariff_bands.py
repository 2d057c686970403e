"""A tariff's energy price by time of day, as smart charging plans with it.

A site's plan may take its prices from the tariff its sessions are billed with, so
planning and billing never disagree: for each minute of the day, the ENERGY price
(excl. VAT) of the first element that applies then. Only time-of-day restrictions
are planning inputs; an element restricted otherwise (by kWh, power, current,
duration, day of week, dates or reservation) is passed over, since a plan's slot
cannot know those. Adjacent minutes at the same price make one band.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from activities.billing.tariffs import Dimension, Restrictions, Tariff

_DAY = 24 * 60


def _time_only(restrictions: Restrictions) -> bool:
    return replace(restrictions, start_time=None, end_time=None).is_empty()


def energy_bands(tariff: Tariff) -> list[tuple[float, float, Decimal]]:
    """(start hour, end hour, price per kWh excl. VAT) bands covering the whole day;
    ValueError when some minute has no energy price."""
    windows: list[tuple[frozenset[int] | None, Decimal]] = []
    for element in tariff.elements:
        if not _time_only(element.restrictions):
            continue
        energy = next((c for c in element.price_components if c.type == Dimension.ENERGY), None)
        if energy is not None:
            windows.append((element.restrictions.minutes(), energy.price))
    prices: list[Decimal] = []
    for minute in range(_DAY):
        price = next((p for covered, p in windows if covered is None or minute in covered), None)
        if price is None:
            raise ValueError(
                f"tariff {tariff.id} has no energy price at {minute // 60:02d}:{minute % 60:02d}"
            )
        prices.append(price)
    bands: list[tuple[float, float, Decimal]] = []
    start = 0
    for minute in range(1, _DAY + 1):
        if minute == _DAY or prices[minute] != prices[start]:
            bands.append((start / 60, minute / 60, prices[start]))
            start = minute
    return bands
