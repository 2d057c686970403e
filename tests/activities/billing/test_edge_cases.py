"""Edge cases a review of the engine found: each failed before its fix."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from activities.billing.ocpi_cdr import CdrError, price_ocpi_cdr
from activities.billing.tariffs import TariffError, parse_tariff
from activities.billing.timeline import (
    Activity,
    MeterSample,
    SessionTimeline,
    StatusChange,
    price_session,
)

EXAMPLES = Path(__file__).parent / "ocpi_examples"


def d(text: str) -> Decimal:
    """Shorthand for an exact decimal."""
    return Decimal(text)


def at(text: str) -> datetime:
    """A UTC instant."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def example(name: str) -> Any:
    """One of the OCPI example tariffs, parsed."""
    return parse_tariff(json.loads((EXAMPLES / f"{name}.json").read_text()))


def test_power_restrictions_read_kilowatts_from_the_meter() -> None:
    """The max_power example through a timeline: 1 kWh at 6 kW, 40 at 48 kW, 0.5 at 4 kW
    cost 0.20 + 20.00 + 0.10 = €20.30 (the 4 kW tail back at €0.20)."""
    start = at("2026-06-01T10:00:00Z")
    marks = [(10, 1000), (60, 41000), (67.5, 41500)]
    samples = [MeterSample(start + timedelta(minutes=m), Decimal(wh)) for m, wh in marks]
    timeline = SessionTimeline(start, samples[-1].at, d("0"), d("41500"), samples=samples[:-1])
    priced = price_session(example("tariffrestriction_example_max_power"), timeline)
    assert priced.total.excl_vat == d("20.30")
    assert [(line.unit_price, line.quantity) for line in priced.lines] == [
        (d("0.2"), d("1.5")),
        (d("0.5"), d("40")),
    ]


def test_a_small_dip_of_the_register_is_not_a_reset() -> None:
    """50000, 50500, 50499.9 (a dip), 51000 Wh: 1 kWh, not 51.5."""
    start = at("2026-06-01T10:00:00Z")
    samples = [
        MeterSample(start + timedelta(minutes=20), d("50500")),
        MeterSample(start + timedelta(minutes=40), d("50499.9")),
    ]
    tariff = parse_tariff(
        {
            "id": "T",
            "currency": "EUR",
            "elements": [
                {"price_components": [{"type": "ENERGY", "price": "0.30", "step_size": 1}]}
            ],
        }
    )
    timeline = SessionTimeline(
        start, start + timedelta(hours=1), d("50000"), d("51000"), samples=samples
    )
    assert price_session(tariff, timeline).total.excl_vat == d("0.30")


def test_the_last_meter_interval_keeps_the_last_current() -> None:
    """The complex tariff on a Monday at 16 A sampled every 10 minutes: all 165 minutes
    are priced at the below-32 A rate, €9.00 / €10.30 as the specification says."""
    start = at("2026-06-01T09:30:00Z")
    samples = [
        MeterSample(start + timedelta(minutes=m), Decimal(m * 60), current_a=d("16"))
        for m in range(10, 165, 10)
    ]
    timeline = SessionTimeline(
        start,
        start + timedelta(minutes=207),
        d("0"),
        d("9900"),
        samples=samples,
        statuses=[StatusChange(start + timedelta(minutes=165), Activity.PARKING)],
    )
    priced = price_session(example("tariff_4_complex"), timeline)
    assert (priced.total.excl_vat, priced.total.incl_vat) == (d("9.00"), d("10.30"))


def test_parking_draws_nothing_so_a_max_power_element_prices_it() -> None:
    """€2/h charging and €5/h parking below 22 kW: an hour of each, €7.00, on both paths."""
    data = {
        "id": "T",
        "currency": "EUR",
        "elements": [
            {
                "price_components": [
                    {"type": "TIME", "price": 2, "step_size": 1},
                    {"type": "PARKING_TIME", "price": 5, "step_size": 1},
                ],
                "restrictions": {"max_power": 22},
            }
        ],
    }
    start = at("2026-06-01T10:00:00Z")
    timeline = SessionTimeline(
        start,
        start + timedelta(hours=2),
        d("0"),
        d("11000"),
        samples=[MeterSample(start + timedelta(minutes=30), d("5500"))],
        statuses=[StatusChange(start + timedelta(hours=1), Activity.PARKING)],
    )
    assert price_session(parse_tariff(data), timeline).total.excl_vat == d("7.00")
    cdr = {
        "end_date_time": "2026-06-01T12:00:00Z",
        "charging_periods": [
            {
                "start_date_time": "2026-06-01T10:00:00Z",
                "dimensions": [{"type": "ENERGY", "volume": 11}, {"type": "TIME", "volume": 1}],
            },
            {
                "start_date_time": "2026-06-01T11:00:00Z",
                "dimensions": [{"type": "PARKING_TIME", "volume": 1}],
            },
        ],
    }
    assert price_ocpi_cdr(cdr, data).total.excl_vat == d("7.00")


@pytest.mark.parametrize(
    ("start", "why"),
    [
        ("2024-03-31T00:00:00Z", "spring: 03:00-04:00 CEST in the window, 01:00 CET before"),
        ("2024-10-27T00:00:00Z", "autumn: 02:30-03:00 CEST and 02:30-03:00 CET in it"),
    ],
)
def test_a_dst_change_is_a_boundary_of_its_own(start: str, why: str) -> None:
    """€10/h from 02:30 to 06:00 in Amsterdam, else €1/h, two hours from 00:00Z: one hour
    in the window either way, €11.00."""
    data = {
        "id": "T",
        "currency": "EUR",
        "elements": [
            {
                "price_components": [{"type": "TIME", "price": 10, "step_size": 1}],
                "restrictions": {"start_time": "02:30", "end_time": "06:00"},
            },
            {"price_components": [{"type": "TIME", "price": 1, "step_size": 1}]},
        ],
    }
    begin = at(start)
    timeline = SessionTimeline(begin, begin + timedelta(hours=2), time_zone="Europe/Amsterdam")
    assert price_session(parse_tariff(data), timeline).total.excl_vat == d("11.00"), why


def test_a_line_without_vat_never_carries_vat() -> None:
    """34.737 kWh at €0.53 with 21 % VAT and 15 minutes at €3.38 without: the rounding
    of the total never gives the VAT-free line VAT (it once gave it -€0.01)."""
    data = {
        "id": "T",
        "currency": "EUR",
        "elements": [
            {
                "price_components": [
                    {"type": "ENERGY", "price": "0.53", "vat": 21, "step_size": 1},
                    {"type": "TIME", "price": "3.38", "step_size": 1},
                ]
            }
        ],
    }
    cdr = {
        "end_date_time": "2026-06-01T10:15:00Z",
        "charging_periods": [
            {
                "start_date_time": "2026-06-01T10:00:00Z",
                "dimensions": [
                    {"type": "ENERGY", "volume": "34.737"},
                    {"type": "TIME", "volume": "0.25"},
                ],
            }
        ],
    }
    priced = price_ocpi_cdr(cdr, data)
    time_line = next(line for line in priced.lines if line.dimension == "TIME")
    assert time_line.vat == 0 and time_line.excl_vat == time_line.incl_vat
    assert all(line.vat >= 0 for line in priced.lines)


def test_minimum_and_maximum_both_bind() -> None:
    """At least €10 / €12.10, at most €11 / €13.31, and 23 kWh at €0.50 without VAT
    (€11.50 / €11.50): excl. is held to the maximum, incl. raised to the minimum."""
    data = {
        "id": "T",
        "currency": "EUR",
        "min_price": {"excl_vat": 10, "incl_vat": "12.10"},
        "max_price": {"excl_vat": 11, "incl_vat": "13.31"},
        "elements": [{"price_components": [{"type": "ENERGY", "price": "0.5", "step_size": 1}]}],
    }
    start = at("2026-06-01T10:00:00Z")
    timeline = SessionTimeline(start, start + timedelta(hours=2), d("0"), d("23000"))
    priced = price_session(parse_tariff(data), timeline)
    assert (priced.total.excl_vat, priced.total.incl_vat) == (d("11.00"), d("12.10"))


@pytest.mark.parametrize(
    "tariff",
    [
        {"type": []},
        {"elements": [{"price_components": [{"type": [], "price": 1}]}]},
        {
            "elements": [
                {
                    "price_components": [{"type": "TIME", "price": 1}],
                    "restrictions": {"reservation": {}},
                }
            ]
        },
        {"elements": [{"price_components": [{"type": "TIME", "price": 1e30}]}]},
        {
            "elements": [
                {
                    "price_components": [
                        {"type": "TIME", "price": 1, "step_size": Decimal("Infinity")}
                    ]
                }
            ]
        },
    ],
)
def test_odd_tariff_json_is_a_tariff_error(tariff: dict[str, Any]) -> None:
    """Wrong types and absurd numbers are refused with a reason, never a TypeError."""
    data = {
        "id": "T",
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "TIME", "price": 1, "step_size": 1}]}],
    }
    with pytest.raises(TariffError):
        parse_tariff({**data, **tariff})


@pytest.mark.parametrize(
    "change",
    [
        {"tariffs": 5},
        {"cdr_location": {"time_zone": "Europe/Amsterdamm"}},
        {"end_date_time": "9999-12-31T23:59:00Z"},
        {
            "charging_periods": [
                {
                    "start_date_time": "2026-06-01T10:00:00Z",
                    "tariff_id": ["x"],
                    "dimensions": [{"type": "TIME", "volume": 1}],
                }
            ]
        },
        {
            "charging_periods": [
                {
                    "start_date_time": "2026-06-01T10:00:00Z",
                    "dimensions": [{"type": "ENERGY", "volume": "1e40"}],
                }
            ]
        },
    ],
)
def test_odd_cdr_json_is_a_cdr_error(change: dict[str, Any]) -> None:
    """Each is refused with a CdrError naming the field."""
    cdr = json.loads((EXAMPLES / "cdr_example.json").read_text())
    cdr.update(change)
    with pytest.raises(CdrError):
        price_ocpi_cdr(cdr, cdr.get("tariffs") if change.get("tariffs") != 5 else None)
