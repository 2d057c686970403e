"""Reading OCPI tariffs: what is refused, with which reason, and what round-trips."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from activities.billing.currencies import UnknownCurrency, minor_unit, round_money
from activities.billing.tariffs import TariffError, parse_tariff

EXAMPLES = Path(__file__).parent / "ocpi_examples"


def tariff_json(*elements: dict[str, Any], **more: Any) -> dict[str, Any]:
    """A minimal OCPI tariff object."""
    return {"id": "T", "currency": "EUR", "elements": list(elements), **more}


ENERGY = {"price_components": [{"type": "ENERGY", "price": 0.25, "step_size": 1}]}


@pytest.mark.parametrize(
    ("data", "path", "reason"),
    [
        (tariff_json(ENERGY, currency="EURO"), "currency", "not an ISO 4217"),
        (tariff_json(ENERGY, currency="XXX"), "currency", "not an ISO 4217"),
        (tariff_json(), "elements", "at least one element"),
        (
            tariff_json({"price_components": [{"type": "ENERGY", "price": -0.1, "step_size": 1}]}),
            "elements[0].price_components[0].price",
            "cannot be negative",
        ),
        (
            tariff_json(
                {"price_components": [{"type": "ENERGY", "price": 1, "vat": 120, "step_size": 1}]}
            ),
            "elements[0].price_components[0].vat",
            "between 0 and 100",
        ),
        (
            tariff_json({"price_components": [{"type": "KWH", "price": 1, "step_size": 1}]}),
            "elements[0].price_components[0].type",
            "is not ENERGY",
        ),
        (
            tariff_json({"price_components": [{"type": "TIME", "price": 1, "step_size": 0}]}),
            "elements[0].price_components[0].step_size",
            "from 1 to",
        ),
        (
            tariff_json(
                {
                    "price_components": [
                        {"type": "ENERGY", "price": 1, "step_size": 1},
                        {"type": "ENERGY", "price": 2, "step_size": 1},
                    ]
                }
            ),
            "elements[0].price_components[1]",
            "ambiguous",
        ),
        (
            tariff_json(ENERGY, ENERGY),
            "elements[1].price_components[0]",
            "can never apply",
        ),
        (
            tariff_json(
                {**ENERGY, "restrictions": {"start_time": "08:00", "end_time": "20:00"}},
                {**ENERGY, "restrictions": {"start_time": "09:00", "end_time": "17:00"}},
            ),
            "elements[1].price_components[0]",
            "can never apply",
        ),
        (
            tariff_json(
                {**ENERGY, "restrictions": {"day_of_week": ["SATURDAY", "SUNDAY"]}},
                {**ENERGY, "restrictions": {"day_of_week": ["SUNDAY"], "min_kwh": 5}},
            ),
            "elements[1].price_components[0]",
            "can never apply",
        ),
        (
            tariff_json({**ENERGY, "restrictions": {"start_time": "8:00"}}),
            "elements[0].restrictions.start_time",
            "HH:MM",
        ),
        (
            tariff_json({**ENERGY, "restrictions": {"start_date": "2026-02-30"}}),
            "elements[0].restrictions.start_date",
            "calendar date",
        ),
        (
            tariff_json({**ENERGY, "restrictions": {"min_kwh": 20, "max_kwh": 10}}),
            "elements[0].restrictions.max_kwh",
            "never applies",
        ),
        (
            tariff_json({**ENERGY, "restrictions": {"day_of_week": ["FUNDAY"]}}),
            "elements[0].restrictions.day_of_week",
            "not a day",
        ),
        (
            tariff_json({**ENERGY, "restrictions": {"reservation": "RESERVATION"}}),
            "elements[0].price_components[0]",
            "only FLAT and TIME",
        ),
        (
            tariff_json(ENERGY, min_price={"excl_vat": 5}, max_price={"excl_vat": 2}),
            "min_price",
            "above the maximum",
        ),
        (
            tariff_json(
                ENERGY,
                start_date_time="2026-02-01T00:00:00Z",
                end_date_time="2026-01-01T00:00:00Z",
            ),
            "end_date_time",
            "ends before it starts",
        ),
        (tariff_json(ENERGY, type="CHEAPEST"), "type", "not an OCPI tariff type"),
    ],
)
def test_a_tariff_that_cannot_be_priced_exactly_is_refused_with_its_path(
    data: dict[str, Any], path: str, reason: str
) -> None:
    """Each mistake names the field and says why."""
    with pytest.raises(TariffError) as caught:
        parse_tariff(data)
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_partly_overlapping_elements_are_fine_the_first_wins() -> None:
    """A price ladder by power overlaps by design (OCPI's max_power example): accepted."""
    data = json.loads((EXAMPLES / "tariffrestriction_example_max_power.json").read_text())
    assert len(parse_tariff(data).elements) == 3


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("tariff*.json")), ids=lambda p: p.stem)
def test_every_ocpi_example_tariff_reads_and_round_trips(path: Path) -> None:
    """The specification's examples are valid, and writing one back gives the same JSON."""
    original = json.loads(path.read_text(), parse_float=Decimal)
    tariff = parse_tariff(original)
    again = tariff.to_ocpi()
    assert parse_tariff(again) == tariff
    assert json.loads(json.dumps(again, default=str)) == json.loads(
        json.dumps(original, default=str)
    )


def test_currency_minor_units_and_rounding() -> None:
    """ISO 4217 minor units, half away from zero."""
    assert (minor_unit("EUR"), minor_unit("JPY"), minor_unit("KWD")) == (2, 0, 3)
    assert round_money(Decimal("0.125"), "EUR") == Decimal("0.13")
    assert round_money(Decimal("-0.125"), "EUR") == Decimal("-0.13")
    assert round_money(Decimal("2.5"), "JPY") == Decimal("3")
    with pytest.raises(UnknownCurrency):
        minor_unit("BTC")
