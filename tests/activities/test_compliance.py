"""Compliance of a demand-response event: a site's demand per interval from its meter
samples (interpolated at the edges, held flat and flagged past the last reading),
against the event's limit, in the report the utility reads."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from activities.compliance import (
    ESTIMATED,
    MISSING,
    OK,
    ComplianceActivities,
    Reading,
    compliant,
    interval_demand,
    register_at,
)
from activities.persistence.database import Database
from activities.persistence.models import DrReport
from tests.conftest import unique
from tests.helpers import seed_dr_event, seed_station, seed_transaction, store_register

T0 = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def test_the_register_is_interpolated_between_readings_and_held_past_the_last() -> None:
    tx = Reading(T0, 1000.0, None, None, [(T0 + 10 * MIN, 2000.0), (T0 + 20 * MIN, 4000.0)])
    assert register_at(tx, T0 - MIN) == (1000.0, OK)  # before it began
    assert register_at(tx, T0 + 5 * MIN) == (1500.0, OK)  # from the meter start
    assert register_at(tx, T0 + 15 * MIN) == (3000.0, OK)
    assert register_at(tx, T0 + 30 * MIN) == (4000.0, ESTIMATED)  # still running, no reading
    stopped = Reading(T0, 1000.0, T0 + 25 * MIN, 5000.0, tx.samples)
    assert register_at(stopped, T0 + 30 * MIN) == (5000.0, OK)
    assert register_at(Reading(T0, None, None, None, []), T0) == (None, MISSING)


def test_demand_is_the_energy_over_the_interval_and_quality_the_worst_reading() -> None:
    # 6 kW for the first car all along; the second starts half-way at 12 kW.
    first = Reading(T0, 0.0, None, None, [(T0 + 60 * MIN, 6000.0)])
    second = Reading(T0 + 30 * MIN, 0.0, None, None, [(T0 + 60 * MIN, 6000.0)])
    kw, quality = interval_demand([first, second], T0, T0 + 60 * MIN)
    assert kw == pytest.approx(12.0) and quality == OK
    later, quality = interval_demand([first], T0 + 60 * MIN, T0 + 75 * MIN)
    assert later == 0.0 and quality == ESTIMATED


async def test_the_report_gives_each_interval_its_demand_limit_and_quality(db: Database) -> None:
    """Two cars at 6 kW each under a 15 kW limit, then a 10 kW limit they break."""
    site, stations = unique("dr-site"), [unique("CP"), unique("CP")]
    for station in stations:
        await seed_station(db, station, site_id=site, price="0.2")
    event_id, client = await seed_dr_event(db, site, T0, 30, [15, 10])
    for station in stations:
        start = await seed_transaction(
            db, station, site_id=site, started_at=T0 - 10 * MIN, meter_start_wh=0
        )
        # 6 kW: 100 Wh a minute, one reading a minute for 80 minutes.
        await store_register(db, station, start, [100.0 * (m + 1) for m in range(80)])
    report_id = await ComplianceActivities(db).report_event(event_id)
    assert report_id is not None
    async with db.sessions() as session:
        report = await session.get(DrReport, report_id)
        assert report is not None and report.client_id == client
    [resource] = report.body["resources"]
    assert resource["resourceName"] == site
    values = [{p["type"]: p["values"][0] for p in i["payloads"]} for i in resource["intervals"]]
    assert [v["DEMAND"] for v in values] == [pytest.approx(12.0), pytest.approx(12.0)]
    assert [v["IMPORT_CAPACITY_LIMIT"] for v in values] == [15, 10]
    assert [v["DATA_QUALITY"] for v in values] == [OK, OK]
    assert compliant(resource) == [True, False]
    assert await ComplianceActivities(db).report_event("no-such-event") is None


def test_a_higher_draw_after_the_interval_is_not_lent_to_it() -> None:
    """Readings every 2 s; the car draws 9 kW to the interval's end and 33 kW from it
    (the limit lifted): the reading that straddles the end must not lend the interval
    some of the 33 kW (interpolating across the edge would say 9.18 kW)."""
    start, end = T0, T0 + timedelta(seconds=61)  # an odd length: no reading at the end

    def register(at: datetime) -> float:
        before = min(at, end) - (T0 - timedelta(seconds=10))
        after = max(timedelta(0), at - end)
        return (9000 * before.total_seconds() + 33000 * after.total_seconds()) / 3600

    samples = [(T0 - timedelta(seconds=8) + n * timedelta(seconds=2), 0.0) for n in range(40)]
    samples = [(t, register(t)) for t, _ in samples]
    car = Reading(T0 - timedelta(seconds=10), 0.0, None, None, samples)
    kw, quality = interval_demand([car], start, end)
    assert kw == pytest.approx(9.0, abs=0.01) and quality == OK


def test_whole_wh_registers_read_every_2_s_give_the_draw_within_their_resolution() -> None:
    """Three cars at exactly 3 kW, registers truncated to whole Wh every 2 s (with a
    little jitter), readings off the interval's edges at random phases: the site's
    demand over the minute stays within the registers' resolution, about 1 Wh a car
    (0.06 kW each over a minute). Carrying the edges at the rate of the two nearest
    readings would be off by up to 3 Wh a car."""
    rng = random.Random(15)
    began = T0 - 2 * MIN
    errors = []
    for _ in range(500):
        cars = []
        for _car in range(3):
            phase = rng.uniform(0, 2)
            times = [
                T0 - MIN + timedelta(seconds=phase + 2 * k + rng.uniform(-0.05, 0.05))
                for k in range(90)
            ]
            samples = [(t, float(int(3000 * (t - began).total_seconds() / 3600))) for t in times]
            cars.append(Reading(began, 0.0, None, None, samples))
        kw, quality = interval_demand(cars, T0, T0 + MIN)
        assert quality == OK
        errors.append(abs(kw - 9.0))
    assert max(errors) <= 3 * 0.05
