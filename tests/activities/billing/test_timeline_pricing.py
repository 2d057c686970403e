"""Sessions priced from their meter samples and status periods, totals computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from activities.billing.pricing import Category
from activities.billing.tariffs import parse_tariff
from activities.billing.timeline import (
    Activity,
    MeterSample,
    SessionTimeline,
    StatusChange,
    price_session,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
BERLIN = ZoneInfo("Europe/Berlin")


def d(text: str) -> Decimal:
    """Shorthand for an exact decimal."""
    return Decimal(text)


def tariff(*elements: dict[str, Any], currency: str = "EUR", **more: Any) -> Any:
    """A tariff from OCPI element objects."""
    grace = more.pop("parking_grace_s", 0)
    return parse_tariff(
        {"id": "T-1", "currency": currency, "elements": list(elements), **more},
        parking_grace_s=grace,
    )


def component(kind: str, price: str, *, vat: float | None = None, step: int = 1) -> dict[str, Any]:
    """An OCPI price component."""
    out: dict[str, Any] = {"type": kind, "price": price, "step_size": step}
    if vat is not None:
        out["vat"] = vat
    return out


def steady(
    start: datetime, hours: float, kw: float, *, every_min: int = 15, **more: Any
) -> SessionTimeline:
    """A session charging at a constant power, sampled every ``every_min`` minutes."""
    start = start.astimezone(UTC)  # real hours, not wall-clock ones
    stop = start + timedelta(hours=hours)
    samples = []
    moment = start + timedelta(minutes=every_min)
    while moment < stop:
        wh = Decimal(str(kw)) * Decimal((moment - start).total_seconds()) / Decimal("3.6")
        samples.append(MeterSample(moment, wh))
        moment += timedelta(minutes=every_min)
    total = Decimal(str(kw)) * Decimal((stop - start).total_seconds()) / Decimal("3.6")
    return SessionTimeline(
        start=start, stop=stop, meter_start_wh=d("0"), meter_stop_wh=total, samples=samples, **more
    )


NIGHT_AND_DAY = (
    {
        "price_components": [component("ENERGY", "0.20", vat=21)],
        "restrictions": {"start_time": "23:00", "end_time": "06:00"},
    },
    {"price_components": [component("ENERGY", "0.30", vat=21)]},
)


def test_a_session_across_a_time_of_day_boundary_is_split_there() -> None:
    """21:00-23:00 local at 11 kW, night price from 22:00: 11 kWh at €0.30 and 11 at
    €0.20 = €5.50, with 21 % VAT €6.655, rounded €6.66."""
    t = tariff(
        {
            "price_components": [component("ENERGY", "0.20", vat=21)],
            "restrictions": {"start_time": "22:00", "end_time": "06:00"},
        },
        {"price_components": [component("ENERGY", "0.30", vat=21)]},
    )
    start = datetime(2026, 6, 1, 21, tzinfo=AMSTERDAM)
    priced = price_session(t, steady(start, 2, 11, time_zone="Europe/Amsterdam"))
    assert priced.total.excl_vat == d("5.50")
    assert priced.total.incl_vat == d("6.66")
    assert [line.quantity for line in priced.lines] == [d("11"), d("11")]
    assert [p.start for p in priced.periods] == [start, start + timedelta(hours=1)]  # 22:00
    assert sum(line.incl_vat for line in priced.lines) == priced.total.incl_vat


def test_the_autumn_dst_night_is_an_hour_longer() -> None:
    """Berlin, 24-25 Oct 2026, 22:00-08:00 local at 7 kW: eleven real hours, of which the
    night 23:00-06:00 is eight (the clock goes back at 03:00): 56 kWh at €0.20 and
    21 kWh at €0.30 = €17.50."""
    start = datetime(2026, 10, 24, 22, tzinfo=BERLIN)
    stop = datetime(2026, 10, 25, 8, tzinfo=BERLIN)
    hours = (stop.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 3600
    assert hours == 11
    priced = price_session(
        tariff(*NIGHT_AND_DAY), steady(start, hours, 7, every_min=60, time_zone="Europe/Berlin")
    )
    day, night = priced.lines  # in order of first use: the evening hour comes first
    assert (night.quantity, day.quantity) == (d("56"), d("21"))
    assert priced.total.excl_vat == d("17.50")


def test_the_spring_dst_night_is_an_hour_shorter() -> None:
    """Berlin, 28-29 Mar 2026, 22:00-08:00 local at 7 kW: nine real hours, the night six:
    42 kWh at €0.20 and 21 kWh at €0.30 = €14.70."""
    start = datetime(2026, 3, 28, 22, tzinfo=BERLIN)
    stop = datetime(2026, 3, 29, 8, tzinfo=BERLIN)
    hours = (stop.astimezone(UTC) - start.astimezone(UTC)).total_seconds() / 3600
    assert hours == 9
    priced = price_session(
        tariff(*NIGHT_AND_DAY), steady(start, hours, 7, every_min=60, time_zone="Europe/Berlin")
    )
    assert [line.quantity for line in priced.lines] == [d("21"), d("42")]  # day, night
    assert priced.total.excl_vat == d("14.70")


def test_idle_fee_after_a_grace_period() -> None:
    """An hour charging 10 kWh at €0.30, then 50 minutes plugged in; parking costs €6/h
    after 30 free minutes, per minute: €3.00 + 20 minutes €2.00 = €5.00."""
    start = datetime(2026, 6, 1, 10, tzinfo=AMSTERDAM)
    t = tariff(
        {
            "price_components": [
                component("ENERGY", "0.30"),
                component("PARKING_TIME", "6.00", step=60),
            ]
        },
        parking_grace_s=1800,
    )
    timeline = SessionTimeline(
        start=start,
        stop=start + timedelta(minutes=110),
        meter_start_wh=d("0"),
        meter_stop_wh=d("10000"),
        statuses=[StatusChange(start + timedelta(hours=1), Activity.PARKING)],
    )
    priced = price_session(t, timeline)
    assert priced.total.excl_vat == d("5.00")
    assert priced.subtotal(Category.PARKING).excl_vat == d("2.00")
    # The free half hour and the billed twenty minutes are periods of their own.
    assert [p.dimensions.get("PARKING_TIME") for p in priced.periods] == [
        None,
        d("0.5"),
        Decimal(20) / 60,
    ]
    no_grace = price_session(tariff(*t.to_ocpi()["elements"]), timeline)
    assert no_grace.subtotal(Category.PARKING).excl_vat == d("5.00")


def test_suspended_by_the_charger_is_neither_charging_nor_parking_time() -> None:
    """30 min charging, 20 suspended by the EVSE, 10 charging, 15 parked; €1/h charging,
    €2/h parking: 40 minutes €0.6667 + 15 minutes €0.50 = €1.1667, rounded €1.17."""
    start = datetime(2026, 6, 1, 10, tzinfo=AMSTERDAM)
    t = tariff({"price_components": [component("TIME", "1"), component("PARKING_TIME", "2")]})
    minutes = [30, 20, 10, 15]
    activities = [Activity.CHARGING, Activity.SUSPENDED, Activity.CHARGING, Activity.PARKING]
    changes, moment = [], start
    for length, activity in zip(minutes, activities, strict=True):
        changes.append(StatusChange(moment, activity))
        moment += timedelta(minutes=length)
    priced = price_session(
        t,
        SessionTimeline(start, moment, d("0"), d("5000"), statuses=changes),
    )
    assert priced.total.excl_vat == d("1.17")
    assert priced.charging_s == 40 * 60
    assert priced.parking_s == 15 * 60
    assert priced.time_s == 75 * 60


def test_energy_between_sparse_readings_is_billed_to_charging_time() -> None:
    """Charging 11:00-12:00 and parked until 13:00 with only the start and stop readings:
    the 10 kWh are the hour's charging, all at the morning's €0.30 (spread over the two
    hours it would be €2.00)."""
    start = datetime(2026, 6, 1, 11, tzinfo=AMSTERDAM)
    t = tariff(
        {
            "price_components": [component("ENERGY", "0.30")],
            "restrictions": {"start_time": "00:00", "end_time": "12:00"},
        },
        {"price_components": [component("ENERGY", "0.10")]},
    )
    timeline = SessionTimeline(
        start,
        start + timedelta(hours=2),
        d("50000"),
        d("60000"),
        statuses=[StatusChange(start + timedelta(hours=1), Activity.PARKING)],
        time_zone="Europe/Amsterdam",
    )
    priced = price_session(t, timeline)
    assert priced.total.excl_vat == d("3.00")


def test_yen_have_no_minor_unit() -> None:
    """10.123 kWh at ¥35 and 10 % VAT: ¥354.305 -> ¥354, ¥389.7355 -> ¥390."""
    start = datetime(2026, 6, 1, 10, tzinfo=ZoneInfo("Asia/Tokyo"))
    t = tariff({"price_components": [component("ENERGY", "35", vat=10)]}, currency="JPY")
    priced = price_session(
        t, SessionTimeline(start, start + timedelta(hours=1), d("0"), d("10123"))
    )
    assert (priced.total.excl_vat, priced.total.incl_vat) == (d("354"), d("390"))
    assert priced.lines[0].vat == d("36")


def test_kuwaiti_dinar_have_three_decimals() -> None:
    """12.3456 kWh at 0.015 KWD: 0.185184 -> 0.185."""
    start = datetime(2026, 6, 1, 10, tzinfo=ZoneInfo("Asia/Kuwait"))
    t = tariff({"price_components": [component("ENERGY", "0.015")]}, currency="KWD")
    priced = price_session(
        t, SessionTimeline(start, start + timedelta(hours=1), d("0"), d("12345.6"))
    )
    assert priced.total.excl_vat == d("0.185")


def test_vat_per_component_and_minimum_and_maximum_price() -> None:
    """A €1 start fee at 20 % VAT and €0.40/kWh at 9 %, at least €2 / €2.30 and at most
    €8 / €9: 2 kWh cost €1.80 / €2.072 -> the minimum; 30 kWh €13 / €14.28 -> the
    maximum; 10 kWh €5.00 / €5.56 as computed."""
    t = tariff(
        {"price_components": [component("FLAT", "1", vat=20), component("ENERGY", "0.40", vat=9)]},
        min_price={"excl_vat": 2, "incl_vat": 2.30},
        max_price={"excl_vat": 8, "incl_vat": 9},
    )
    start = datetime(2026, 6, 1, 10, tzinfo=AMSTERDAM)
    results = {}
    for kwh in (2, 10, 30):
        timeline = SessionTimeline(start, start + timedelta(hours=3), d("0"), Decimal(kwh * 1000))
        priced = price_session(t, timeline)
        results[kwh] = (priced.total.excl_vat, priced.total.incl_vat)
        assert sum(line.excl_vat for line in priced.lines) == priced.total.excl_vat
    assert results == {
        2: (d("2.00"), d("2.30")),
        10: (d("5.00"), d("5.56")),
        30: (d("8.00"), d("9.00")),
    }


def test_an_energy_threshold_is_found_on_the_meter_curve() -> None:
    """The first 10 kWh at €0.40, the rest at €0.25: 8 kWh in the first half hour, 7 in
    the second; 10 kWh are reached 2/7 into the second half hour. 10 x 0.40 + 5 x 0.25
    = €5.25."""
    start = datetime(2026, 6, 1, 10, tzinfo=AMSTERDAM)
    t = tariff(
        {"price_components": [component("ENERGY", "0.25")], "restrictions": {"min_kwh": 10}},
        {"price_components": [component("ENERGY", "0.40")]},
    )
    timeline = SessionTimeline(
        start,
        start + timedelta(hours=1),
        d("0"),
        d("15000"),
        samples=[MeterSample(start + timedelta(minutes=30), d("8000"))],
    )
    priced = price_session(t, timeline)
    assert priced.total.excl_vat == d("5.25")
    boundary = start + timedelta(minutes=30) + timedelta(minutes=30) * 2 / 7
    assert abs(priced.periods[1].start - boundary) < timedelta(milliseconds=1)


def test_a_meter_register_reset_counts_the_energy_after_it() -> None:
    """Readings 1000, 5000, 200 (reset), 3200 Wh: 4000 + 200 + 3000 = 7.2 kWh."""
    start = datetime(2026, 6, 1, 10, tzinfo=AMSTERDAM)
    t = tariff({"price_components": [component("ENERGY", "0.50")]})
    timeline = SessionTimeline(
        start,
        start + timedelta(hours=1),
        d("1000"),
        d("3200"),
        samples=[
            MeterSample(start + timedelta(minutes=20), d("5000")),
            MeterSample(start + timedelta(minutes=40), d("200")),
        ],
    )
    priced = price_session(t, timeline)
    assert priced.energy_wh == d("7200")
    assert priced.total.excl_vat == d("3.60")
    assert any("reset" in note for note in priced.notes)


def test_a_session_without_readings_bills_no_energy_and_says_so() -> None:
    """No meter values at all: time is billed, energy is not, and a note says why."""
    start = datetime(2026, 6, 1, 10, tzinfo=AMSTERDAM)
    t = tariff({"price_components": [component("ENERGY", "0.50"), component("TIME", "1.20")]})
    priced = price_session(t, SessionTimeline(start, start + timedelta(minutes=30)))
    assert priced.total.excl_vat == d("0.60")
    assert priced.notes == ("no meter readings: no energy billed",)


def test_samples_outside_the_session_are_ignored() -> None:
    """A reading before the start and one after the stop change nothing."""
    start = datetime(2026, 6, 1, 10, tzinfo=AMSTERDAM)
    t = tariff({"price_components": [component("ENERGY", "1")]})
    timeline = SessionTimeline(
        start,
        start + timedelta(hours=1),
        d("100"),
        d("1100"),
        samples=[
            MeterSample(start - timedelta(minutes=5), d("0")),
            MeterSample(start + timedelta(hours=2), d("99999")),
        ],
    )
    assert price_session(t, timeline).total.excl_vat == d("1.00")


def test_a_reservation_before_the_session_and_one_that_expired() -> None:
    """€5/h reservation per minute and €0.25/kWh: 15 minutes reserved then 20 kWh,
    €1.25 + €5.00; an hour reserved and never used, €5.00."""
    t = tariff(
        {
            "price_components": [component("TIME", "5", step=60)],
            "restrictions": {"reservation": "RESERVATION"},
        },
        {"price_components": [component("ENERGY", "0.25")]},
    )
    start = datetime(2026, 6, 1, 10, tzinfo=AMSTERDAM)
    used = price_session(
        t,
        SessionTimeline(
            start,
            start + timedelta(hours=2),
            d("0"),
            d("20000"),
            reservation_start=start - timedelta(minutes=15),
        ),
    )
    assert used.total.excl_vat == d("6.25")
    assert used.subtotal(Category.RESERVATION).excl_vat == d("1.25")
    expired = price_session(
        t, SessionTimeline(start, start + timedelta(hours=1), reservation_expired=True)
    )
    assert expired.total.excl_vat == d("5.00")


def test_a_session_that_stops_before_it_starts_is_refused() -> None:
    """A stop before the start is an error, not a negative duration."""
    start = datetime(2026, 6, 1, 10, tzinfo=AMSTERDAM)
    t = tariff({"price_components": [component("ENERGY", "1")]})
    with pytest.raises(ValueError, match="stop before it starts"):
        price_session(t, SessionTimeline(start, start - timedelta(seconds=1)))


def test_a_session_over_within_a_millisecond_still_owes_its_start_fee() -> None:
    """Start and stop at the same instant: no energy, no time, the FLAT fee."""
    start = datetime(2026, 6, 1, 10, tzinfo=AMSTERDAM)
    t = tariff({"price_components": [component("FLAT", "0.50"), component("ENERGY", "1")]})
    priced = price_session(t, SessionTimeline(start, start, d("0"), d("0")))
    assert priced.total.excl_vat == d("0.50")
