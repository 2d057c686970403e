"""Smart charging plans with the billing tariff's energy prices by time of day."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from activities.billing.tariff_bands import energy_bands
from activities.billing.tariffs import parse_tariff
from activities.persistence.database import Database
from activities.persistence.repositories import tariffs
from activities.smart_charging import check_prices, with_tariff_prices
from tests.conftest import unique
from workflows.smart_charging import PriceBand, SiteCharger, SiteChargingConfig


def _energy(price: str) -> dict[str, Any]:
    return {"type": "ENERGY", "price": price, "vat": 21, "step_size": 1}


NIGHT_AND_DAY = {
    "currency": "EUR",
    "elements": [
        {"price_components": [{"type": "FLAT", "price": "0.50", "step_size": 1}]},
        {
            # Weekends cheaper: not a planning input (a slot has no day of week here).
            "price_components": [_energy("0.10")],
            "restrictions": {"day_of_week": ["SATURDAY", "SUNDAY"]},
        },
        {
            "price_components": [_energy("0.20")],
            "restrictions": {"start_time": "23:00", "end_time": "07:00"},
        },
        {"price_components": [_energy("0.40")]},
    ],
}


def test_bands_follow_the_first_element_that_applies_at_each_time() -> None:
    bands = energy_bands(parse_tariff({"id": "T", **NIGHT_AND_DAY}))
    assert bands == [
        (0.0, 7.0, Decimal("0.20")),
        (7.0, 23.0, Decimal("0.40")),
        (23.0, 24.0, Decimal("0.20")),
    ]


def test_a_tariff_without_an_energy_price_all_day_cannot_plan() -> None:
    only_by_day = {
        "currency": "EUR",
        "elements": [
            {
                "price_components": [_energy("0.40")],
                "restrictions": {"start_time": "07:00", "end_time": "23:00"},
            },
            {"price_components": [_energy("0.30")], "restrictions": {"max_power": 11}},
        ],
    }
    with pytest.raises(ValueError, match="no energy price at 00:00"):
        energy_bands(parse_tariff({"id": "T", **only_by_day}))


async def test_the_plan_reads_the_tariffs_newest_version(sqlite_db: Database) -> None:
    tariff_id = unique("T")
    config = SiteChargingConfig(
        connection_kw=22,
        chargers=[SiteCharger("CP-1")],
        prices=[PriceBand(0, 24, 0.99)],
        tariff_id=tariff_id,
    )
    async with sqlite_db.sessions.begin() as session:
        # Not there yet: the bands last read stay.
        assert (await with_tariff_prices(session, config)).prices == config.prices
        await tariffs.add_version(session, parse_tariff({"id": tariff_id, **NIGHT_AND_DAY}))
        first = await with_tariff_prices(session, config)
        cheaper = {
            **NIGHT_AND_DAY,
            "elements": [{"price_components": [_energy("0.15")]}],
        }
        await tariffs.add_version(session, parse_tariff({"id": tariff_id, **cheaper}))
        second = await with_tariff_prices(session, config)
    assert [b.price_per_kwh for b in first.prices] == [0.2, 0.4, 0.2]
    assert second.prices == [PriceBand(0.0, 24.0, 0.15)]
    check_prices(second)
