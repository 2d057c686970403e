"""The worked examples of OCPI 2.2.1's tariff and CDR modules, priced as CDRs.

Each example's tariff is the specification's own JSON (``ocpi_examples/``); the
session is the one the example describes, written as the CDR a CPO would send
(one charging period per stretch, split where the example says the price changes or
left whole where the engine must split it itself). The expected totals are the
specification's; where its arithmetic slips, the comment says so and the expectation
is computed by hand.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from activities.billing.ocpi_cdr import price_ocpi_cdr, totals_json
from activities.billing.pricing import Category, PricedSession

EXAMPLES = Path(__file__).parent / "ocpi_examples"
MONDAY = datetime.fromisoformat("2026-06-01T00:00:00+00:00")  # a Monday
SATURDAY = MONDAY + timedelta(days=5)


def tariff(name: str) -> dict[str, Any]:
    """One of the specification's example tariffs."""
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return data


def cdr(
    start: datetime,
    stretches: list[tuple[float, dict[str, float]]],
    *,
    tariff_id: str = "12",
) -> dict[str, Any]:
    """A CDR of consecutive stretches: (minutes, dimensions in OCPI units)."""
    periods = []
    moment = start
    for minutes, dimensions in stretches:
        periods.append(
            {
                "start_date_time": moment.isoformat().replace("+00:00", "Z"),
                "dimensions": [{"type": k, "volume": v} for k, v in dimensions.items()],
                "tariff_id": tariff_id,
            }
        )
        moment += timedelta(minutes=minutes)
    return {
        "start_date_time": periods[0]["start_date_time"],
        "end_date_time": moment.isoformat().replace("+00:00", "Z"),
        "currency": "EUR",
        "charging_periods": periods,
    }


def charging(minutes: float, kwh: float = 0.0, **more: float) -> tuple[float, dict[str, float]]:
    """A stretch of charging."""
    return minutes, {"ENERGY": kwh, "TIME": minutes / 60, **more}


def parking(minutes: float) -> tuple[float, dict[str, float]]:
    """A stretch plugged in without charging."""
    return minutes, {"PARKING_TIME": minutes / 60}


def reserved(minutes: float) -> tuple[float, dict[str, float]]:
    """A stretch of reservation before the session."""
    return minutes, {"RESERVATION_TIME": minutes / 60}


def totals(priced: PricedSession) -> tuple[Decimal, Decimal]:
    """The session's total excl. and incl. VAT."""
    assert priced.total.incl_vat is not None
    return priced.total.excl_vat, priced.total.incl_vat


def d(text: str) -> Decimal:
    """Shorthand for an exact decimal."""
    return Decimal(text)


# -- Tariff module, "Examples" -------------------------------------------------------


def test_simple_025_per_kwh() -> None:
    """€0.25/kWh, 10 % VAT: 20 kWh cost €5.00 excl. or €5.50 incl. VAT."""
    priced = price_ocpi_cdr(cdr(MONDAY, [charging(120, 20)]), tariff("tariff_8_simple_025kwh"))
    assert totals(priced) == (d("5.00"), d("5.50"))
    assert priced.subtotal(Category.ENERGY).excl_vat == d("5.00")


def test_025_per_kwh_and_start_fee() -> None:
    """€0.50 start fee (20 % VAT) and €0.25/kWh: 20 kWh cost €5.50 / €6.10."""
    priced = price_ocpi_cdr(cdr(MONDAY, [charging(120, 20)]), tariff("tariff_9_025kwh_start"))
    assert totals(priced) == (d("5.50"), d("6.10"))
    assert priced.subtotal(Category.FIXED).excl_vat == d("0.50")


@pytest.mark.parametrize(
    ("kwh", "expected"),
    [(20, (d("5.00"), d("5.50"))), (1, (d("0.50"), d("0.55"))), (1.9, (d("0.50"), d("0.55")))],
)
def test_025_per_kwh_with_minimum_price(kwh: float, expected: tuple[Decimal, Decimal]) -> None:
    """A minimum of €0.50 / €0.55: below 2 kWh the minimum is billed."""
    priced = price_ocpi_cdr(cdr(MONDAY, [charging(60, kwh)]), tariff("tariff_12_025kwh_min_price"))
    assert totals(priced) == expected


def test_025_per_kwh_parking_and_start_fee() -> None:
    """20 kWh and 40 minutes parked, billed per 15 minutes as 45: €7.00 / €7.90."""
    priced = price_ocpi_cdr(
        cdr(MONDAY, [charging(120, 20), parking(40)]), tariff("tariff_10_025kwh_parking_start")
    )
    assert totals(priced) == (d("7.00"), d("7.90"))
    assert priced.subtotal(Category.PARKING).excl_vat == d("1.50")


@pytest.mark.parametrize(
    ("kwh", "expected"), [(50, (d("10.00"), d("11.00"))), (30, (d("8.00"), d("8.85")))]
)
def test_start_fee_with_maximum_price(kwh: float, expected: tuple[Decimal, Decimal]) -> None:
    """A maximum of €10 / €11: 50 kWh hit it, 30 kWh cost €8.00 / €8.85."""
    start = datetime.fromisoformat("2019-06-01T10:00:00+00:00")  # before the tariff's end date
    priced = price_ocpi_cdr(
        cdr(start, [charging(180, kwh)]), tariff("tariff_6_025kwh_start_max_price")
    )
    assert totals(priced) == expected


def test_two_euro_per_hour_charging_time() -> None:
    """€2/h charging, per minute: 2.5 hours cost €5.00 / €5.50."""
    priced = price_ocpi_cdr(cdr(MONDAY, [charging(150, 30)]), tariff("tariff_1_simple_2hour"))
    assert totals(priced) == (d("5.00"), d("5.50"))


def test_three_euro_per_hour_and_five_parking() -> None:
    """150 minutes charging and 42 parked (billed as 45): €11.25 / €12.75."""
    priced = price_ocpi_cdr(
        cdr(MONDAY, [charging(150, 30), parking(42)]), tariff("tariff_13_simple_3hour_5parking")
    )
    assert totals(priced) == (d("11.25"), d("12.75"))


def test_ad_hoc_with_alternative_text() -> None:
    """€1.90/h per 5 minutes, 5.2 % VAT: 2.5 hours cost €4.75 / €5.00."""
    priced = price_ocpi_cdr(cdr(MONDAY, [charging(150, 20)]), tariff("tariff_2_alt_text"))
    assert totals(priced) == (d("4.75"), d("5.00"))


def test_energy_billed_per_100_wh() -> None:
    """20.45 kWh billed per 0.1 kWh as 20.5: energy €5.13 / €5.64, total €5.63 / €6.24."""
    priced = price_ocpi_cdr(cdr(MONDAY, [charging(120, 20.45)]), tariff("tariff_3_alt_url"))
    assert totals(priced) == (d("5.63"), d("6.24"))
    assert priced.subtotal(Category.ENERGY) == type(priced.total)(d("5.13"), d("5.64"))
    (energy,) = [line for line in priced.lines if line.dimension == "ENERGY"]
    assert energy.quantity == d("20.5")


def test_complex_tariff_on_a_monday_morning() -> None:
    """09:30 Monday, 165 minutes at 16 A, 42 parked: €9.00 / €10.30, as the table says."""
    start = MONDAY + timedelta(hours=9, minutes=30)
    priced = price_ocpi_cdr(
        cdr(start, [charging(165, 11, MAX_CURRENT=16, MIN_CURRENT=16), parking(42)]),
        tariff("tariff_4_complex"),
    )
    assert totals(priced) == (d("9.00"), d("10.30"))
    assert priced.subtotal(Category.TIME).excl_vat == d("2.75")  # not rounded: parking follows
    assert priced.subtotal(Category.PARKING).excl_vat == d("3.75")  # 42 minutes billed as 45


def test_complex_tariff_on_a_saturday_afternoon() -> None:
    """13:30 Saturday, 114 minutes at 43 A, 71 parked (billed as 75).

    The specification's table bills the 114 minutes at €1.20/h (€2.28) though the
    tariff's weekend price above 32 A is €1.25/h: 114/60 x 1.25 = €2.375, so the
    total is 2.50 + 2.375 + 7.50 = €12.375 excl. and 2.875 + 2.85 + 8.25 = €13.975
    incl. VAT, rounded to €12.38 and €13.98 (the table's €12.28 / €13.861 less its
    slip).
    """
    start = SATURDAY + timedelta(hours=13, minutes=30)
    priced = price_ocpi_cdr(
        cdr(start, [charging(114, 40, MAX_CURRENT=43, MIN_CURRENT=43), parking(71)]),
        tariff("tariff_4_complex"),
    )
    assert totals(priced) == (d("12.38"), d("13.98"))
    parking_line = next(line for line in priced.lines if line.dimension == "PARKING_TIME")
    assert parking_line.quantity == d("1.25")  # 75 minutes
    assert parking_line.exact_excl_vat == d("7.50")


def test_free_of_charge() -> None:
    """The free-of-charge tariff costs nothing for any session."""
    priced = price_ocpi_cdr(
        cdr(MONDAY, [charging(60, 10), parking(30)]), tariff("tariff_5_free_of_charge")
    )
    assert totals(priced) == (d("0.00"), d("0.00"))


def test_reservation_at_five_euro_per_hour() -> None:
    """Charging 15 minutes after reserving, 20 kWh: €6.75 / €7.60."""
    priced = price_ocpi_cdr(
        cdr(MONDAY, [reserved(15), charging(120, 20)]),
        tariff("tariff_15_reservation_5_euro_per_hour"),
    )
    assert totals(priced) == (d("6.75"), d("7.60"))
    assert priced.subtotal(Category.RESERVATION) == type(priced.total)(d("1.25"), d("1.50"))


def test_reservation_with_fee() -> None:
    """13 minutes reserved (billed per 5 as 15) plus a €2 reservation fee: €8.75 / €10.00."""
    priced = price_ocpi_cdr(
        cdr(MONDAY, [reserved(13), charging(120, 20)]),
        tariff("tariff_16_reservation_2_euro_fee_5_euro_per_hour"),
    )
    assert totals(priced) == (d("8.75"), d("10.00"))
    assert priced.subtotal(Category.RESERVATION) == type(priced.total)(d("3.25"), d("3.90"))
    assert priced.subtotal(Category.FIXED).excl_vat == d("0.50")


def test_reservation_with_expiry_fee_used() -> None:
    """22 minutes reserved, billed per 10 as 30, then 20 kWh: €6.50 / €7.30."""
    priced = price_ocpi_cdr(
        cdr(MONDAY, [reserved(22), charging(120, 20)]),
        tariff("tariff_17_reservation_with_expire_fee"),
    )
    assert totals(priced) == (d("6.50"), d("7.30"))


def test_reservation_with_expiry_fee_expired() -> None:
    """An hour reserved and never used: the €4 expiry fee and the hour, €6.00 / €7.20."""
    priced = price_ocpi_cdr(
        cdr(MONDAY, [reserved(60)]), tariff("tariff_17_reservation_with_expire_fee")
    )
    assert totals(priced) == (d("6.00"), d("7.20"))
    assert priced.subtotal(Category.FIXED).excl_vat == 0  # no session, no start fee


def test_reservation_with_expiry_time_used() -> None:
    """22 minutes reserved at €3/h, billed as 30, then 20 kWh: €7.00 / €7.90."""
    priced = price_ocpi_cdr(
        cdr(MONDAY, [reserved(22), charging(120, 20)]),
        tariff("tariff_18_reservation_with_expire_time"),
    )
    assert totals(priced) == (d("7.00"), d("7.90"))


def test_reservation_with_expiry_time_expired() -> None:
    """90 minutes reserved and never used, at the expiry price of €6/h: €9.00 / €10.80."""
    priced = price_ocpi_cdr(
        cdr(MONDAY, [reserved(90)]), tariff("tariff_18_reservation_with_expire_time")
    )
    assert totals(priced) == (d("9.00"), d("10.80"))


# -- Tariff module, restrictions and step size -----------------------------------------


def test_max_power_restrictions() -> None:
    """1 kWh at 6 kW, 40 kWh at 48 kW, 0.5 kWh at 4 kW: €0.20 + €20.00 + €0.10 = €20.30."""
    priced = price_ocpi_cdr(
        cdr(
            MONDAY,
            [
                charging(10, 1, MAX_POWER=6, MIN_POWER=6),
                charging(50, 40, MAX_POWER=48, MIN_POWER=48),
                charging(7.5, 0.5, MAX_POWER=4, MIN_POWER=4),
            ],
        ),
        tariff("tariffrestriction_example_max_power"),
    )
    assert priced.total.excl_vat == d("20.30")
    assert [line.unit_price for line in priced.lines] == [d("0.2"), d("0.5")]


def test_max_duration_restrictions() -> None:
    """Free for 30 minutes, then €0.25/kWh: 5 kWh free and 1.2 kWh paid, €0.30."""
    priced = price_ocpi_cdr(
        cdr(MONDAY, [charging(30, 5), charging(10, 1.2)]),
        tariff("tariffrestriction_example_max_duration"),
    )
    assert priced.total.excl_vat == d("0.30")


def test_max_duration_inside_one_period() -> None:
    """The same session as one 40-minute period at an even pace: cut at 30 minutes."""
    priced = price_ocpi_cdr(
        cdr(MONDAY, [charging(40, 8)]), tariff("tariffrestriction_example_max_duration")
    )
    # 6 kWh in the free 30 minutes, 2 kWh at €0.25.
    assert priced.total.excl_vat == d("0.50")


def test_step_size_switching_element_1() -> None:
    """16:55, 10 minutes charging across 17:00 and 2 parked (billed as 15): €0.55."""
    start = MONDAY + timedelta(hours=16, minutes=55)
    priced = price_ocpi_cdr(
        cdr(start, [charging(10, 2), parking(2)]), tariff("tariff_14_step_size")
    )
    assert priced.total.excl_vat == d("0.55")
    assert [(line.dimension, line.excl_vat) for line in priced.lines] == [
        ("TIME", d("0.10")),
        ("TIME", d("0.20")),
        ("PARKING_TIME", d("0.25")),
    ]


def test_step_size_switching_element_2() -> None:
    """16:35, 35 minutes charging billed as 45: 25 at €1.20/h and 20 at €2.40/h, €1.30."""
    start = MONDAY + timedelta(hours=16, minutes=35)
    priced = price_ocpi_cdr(cdr(start, [charging(35, 6)]), tariff("tariff_14_step_size"))
    assert priced.total.excl_vat == d("1.30")
    assert [line.excl_vat for line in priced.lines] == [d("0.50"), d("0.80")]


def test_step_size_switching_to_free_parking() -> None:
    """19:40, 12 minutes charging, 20 parked of which 8 before 20:00 (billed as 15): €0.73."""
    start = MONDAY + timedelta(hours=19, minutes=40)
    priced = price_ocpi_cdr(
        cdr(start, [charging(12, 2), parking(20)]), tariff("tariff_14_step_size")
    )
    assert priced.total.excl_vat == d("0.73")
    assert [line.excl_vat for line in priced.lines] == [d("0.48"), d("0.25")]


# -- CDR module: step_size over a session ---------------------------------------------


def _two_prices(dimension: str, before: str, after: str, step: int) -> dict[str, Any]:
    return {
        "id": "T",
        "currency": "EUR",
        "elements": [
            {
                "price_components": [{"type": dimension, "price": before, "step_size": step}],
                "restrictions": {"start_time": "00:00", "end_time": "17:00"},
            },
            {"price_components": [{"type": dimension, "price": after, "step_size": step}]},
        ],
        "last_updated": "2026-01-01T00:00:00Z",
    }


def test_energy_step_applies_to_the_sessions_total() -> None:
    """4.3 kWh before 17:00 at €0.20 and 1.1 after at €0.27, step 500 Wh: 5.4 kWh billed
    as 5.5, the extra 0.1 after 17:00: 0.86 + 1.2 x 0.27 = €1.184, rounded €1.18."""
    start = MONDAY + timedelta(hours=16)
    priced = price_ocpi_cdr(
        cdr(start, [charging(60, 4.3), charging(20, 1.1)], tariff_id="T"),
        _two_prices("ENERGY", "0.20", "0.27", 500),
    )
    assert [line.quantity for line in priced.lines] == [d("4.3"), d("1.2")]
    assert priced.total.excl_vat == d("1.18")


def test_time_step_applies_to_the_sessions_total() -> None:
    """6 minutes before 17:00 at €5/h and 22 after at €7/h, step 10 minutes: 28 billed as
    30, so 24 after 17:00: 0.50 + 2.80 = €3.30."""
    start = MONDAY + timedelta(hours=16, minutes=54)
    priced = price_ocpi_cdr(
        cdr(start, [charging(28, 3)], tariff_id="T"), _two_prices("TIME", "5", "7", 600)
    )
    assert priced.total.excl_vat == d("3.30")


def test_charging_time_is_not_rounded_when_parking_follows() -> None:
    """21 minutes at €1/h then 16 parked at €2/h, step 10 minutes: parking billed as 20,
    charging as 21: 0.35 + 0.6667 = €1.0167, rounded €1.02."""
    tariff_json = {
        "id": "T",
        "currency": "EUR",
        "elements": [
            {
                "price_components": [
                    {"type": "TIME", "price": 1, "step_size": 600},
                    {"type": "PARKING_TIME", "price": 2, "step_size": 600},
                ]
            }
        ],
    }
    priced = price_ocpi_cdr(cdr(MONDAY, [charging(21, 3), parking(16)], tariff_id="T"), tariff_json)
    assert priced.total.excl_vat == d("1.02")
    assert [line.quantity for line in priced.lines] == [d("0.35"), d("0.333333")]  # hours


# -- CDR module: the example CDR, and the command line ---------------------------------


def test_the_specifications_example_cdr_reproduces_its_totals() -> None:
    """The CDR module's example CDR, priced with its own tariff, gives its own totals."""
    example = json.loads((EXAMPLES / "cdr_example.json").read_text())
    out = totals_json(price_ocpi_cdr(example))
    for field in ("total_cost", "total_time_cost"):
        assert out[field] == example[field]
    assert out["total_time"] == pytest.approx(example["total_time"], abs=0.001)
