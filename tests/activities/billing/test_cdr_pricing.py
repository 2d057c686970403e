"""A settled session's CDR bills exactly the settled energy; the samples and the
status history only say when it was delivered and what the car was doing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from activities.billing.cdr_pricing import (
    SettledSession,
    activity_of,
    price_cdr,
    site_flat_tariff,
    timeline_of,
)
from activities.billing.tariffs import parse_tariff
from activities.billing.timeline import Activity

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.mark.parametrize(
    ("state", "source", "activity"),
    [
        ("Charging", "status", Activity.CHARGING),
        ("SuspendedEV", "status", Activity.PARKING),
        ("Finishing", "status", Activity.PARKING),
        ("SuspendedEVSE", "status", Activity.SUSPENDED),
        ("Faulted", "status", Activity.SUSPENDED),
        ("Preparing", "status", None),
        ("Occupied", "status", None),
        ("EVConnected", "charging_state", Activity.PARKING),
        ("Idle", "charging_state", Activity.SUSPENDED),
        ("Charging", "charging_state", Activity.CHARGING),
    ],
)
def test_what_a_reported_state_means_for_the_bill(
    state: str, source: str, activity: Activity | None
) -> None:
    assert activity_of(state, source) is activity


def test_readings_the_settlement_rejected_do_not_bill_twice() -> None:
    """A meter that jumped (a reading above start + the settled energy) or went back
    shapes nothing: the energy billed is the settled energy."""
    session = SettledSession(
        started_at=T0,
        stopped_at=_minutes(60),
        energy_wh=6000,
        meter_start_wh=1000,
        energy_samples=[
            (_minutes(10), 2000),
            (_minutes(20), 50_000),  # a glitch above the stop
            (_minutes(30), 1500),  # below an earlier reading
            (_minutes(40), 5000),
            (_minutes(90), 6500),  # after the stop
        ],
    )
    timeline = timeline_of(session)
    assert [(s.at, s.energy_wh) for s in timeline.samples] == [
        (_minutes(10), Decimal(2000)),
        (_minutes(40), Decimal(5000)),
    ]
    assert (timeline.meter_start_wh, timeline.meter_stop_wh) == (Decimal(1000), Decimal(7000))
    priced = price_cdr(site_flat_tariff("S", Decimal("0.25"), "EUR"), None, session)
    assert priced.total_incl_vat == Decimal("1.50") and priced.tariff_id is None


def test_energy_before_an_evening_rate_is_billed_at_the_day_rate() -> None:
    """The samples place the energy in time: 8 of 10 kWh came before 10:30 local
    (Amsterdam, UTC+1), billed at the day rate; the rest at the later rate."""
    tariff = parse_tariff(
        {
            "id": "TOD",
            "currency": "EUR",
            "elements": [
                {
                    "price_components": [{"type": "ENERGY", "price": "0.20", "step_size": 1}],
                    "restrictions": {"start_time": "00:00", "end_time": "10:30"},
                },
                {"price_components": [{"type": "ENERGY", "price": "0.50", "step_size": 1}]},
            ],
        }
    )
    session = SettledSession(
        started_at=T0,
        stopped_at=_minutes(60),
        energy_wh=10_000,
        meter_start_wh=0,
        energy_samples=[(_minutes(30), 8000)],
        time_zone="Europe/Amsterdam",
    )
    priced = price_cdr(tariff, 3, session)
    assert priced.total_incl_vat == Decimal("1.60") + Decimal("1.00")
    assert (priced.tariff_id, priced.tariff_version) == ("TOD", 3)
    assert [line["quantity"] for line in priced.cost_lines] == ["8", "2"]


def test_parked_after_charging_is_parking_time_and_a_fault_is_not() -> None:
    tariff = parse_tariff(
        {
            "id": "P",
            "currency": "EUR",
            "elements": [
                {"price_components": [{"type": "PARKING_TIME", "price": "6.00", "step_size": 1}]}
            ],
        }
    )
    session = SettledSession(
        started_at=T0,
        stopped_at=_minutes(60),
        energy_wh=5000,
        meter_start_wh=0,
        reported=[
            (_minutes(20), "Faulted", "status"),  # the charger's fault: not billed
            (_minutes(30), "Charging", "status"),
            (_minutes(50), "SuspendedEV", "status"),  # 10 minutes parked
        ],
    )
    priced = price_cdr(tariff, 1, session)
    assert priced.total_incl_vat == Decimal("1.00")
    assert priced.totals["total_parking_time"] == "0.166667"


@pytest.mark.parametrize(
    ("wh", "price", "cost"),
    [
        (12_500, "0.40", "5.00"),
        (1, "0.30", "0.00"),
        (1_667, "0.30", "0.50"),  # 0.5001 -> 0.50
        (1_650, "0.30", "0.50"),  # 0.495 rounds half up
        (0, "0.99", "0.00"),
    ],
)
def test_a_sites_flat_price_rounds_half_up_to_the_cent(wh: int, price: str, cost: str) -> None:
    session = SettledSession(
        started_at=T0, stopped_at=_minutes(30), energy_wh=wh, meter_start_wh=100
    )
    priced = price_cdr(site_flat_tariff("S", Decimal(price), "EUR"), None, session)
    assert priced.total_incl_vat == Decimal(cost) == priced.total_excl_vat
    assert priced.price_per_kwh == (Decimal(price) if wh else Decimal(0))
