"""The baselines of a demand-response event: the site's own plan without the event,
recorded when the event reaches it, and X of Y like days from the meter history;
the report that sets demand against them, as OpenADR 3 payloads, CSV and PNG."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from activities.baselines import (
    BaselineActivities,
    BaselineRequest,
    Series,
    days_back,
    plan_baseline,
    x_of_y,
)
from activities.compliance import ComplianceActivities, compliant, report_csv
from activities.persistence.database import Database
from activities.persistence.models import DrReport
from activities.persistence.repositories import transactions
from gateway.transaction_events import session_started
from tests.activities.test_demand_response import SLOT, _smart_site
from tests.conftest import unique
from tests.helpers import seed_dr_event, seed_station, seed_transaction, store_register

T0 = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # a Tuesday
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def test_a_series_averages_over_what_it_covers_only() -> None:
    series = Series(T0, 15, [10.0, 20.0, 30.0, 40.0], "OK")
    assert series.average(T0, T0 + timedelta(minutes=30)) == pytest.approx(15.0)
    assert series.average(T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)) == (
        pytest.approx((5 * 10 + 5 * 20) / 10)
    )
    assert series.average(T0, T0 + HOUR) == pytest.approx(25.0)
    assert series.average(T0 - timedelta(minutes=1), T0 + HOUR) is None
    assert series.average(T0, T0 + 2 * HOUR) is None


def test_a_like_day_keeps_the_wall_clock_across_a_clock_change() -> None:
    amsterdam = ZoneInfo("Europe/Amsterdam")
    # Noon on the Sunday the clocks go back; noon the day before was summer time.
    noon = datetime(2026, 10, 25, 12, 0, tzinfo=amsterdam).astimezone(UTC)
    before = days_back(noon, 1, amsterdam)
    assert before.astimezone(amsterdam).hour == 12
    assert noon - before == timedelta(hours=25)


async def _day_of_history(db: Database, site: str, start: datetime, kw: float) -> None:
    """A car drawing ``kw`` for an hour from ``start``, sampled each minute."""
    station = unique("XY")
    await seed_station(db, station, site_id=site)
    tx = await seed_transaction(db, station, site_id=site, started_at=start, meter_start_wh=0)
    await store_register(db, station, tx, [(m + 1) * kw * 1000 / 60 for m in range(60)])


async def test_x_of_y_takes_the_like_days_with_the_highest_demand(db: Database) -> None:
    site = unique("xy-site")
    # Eight days back: each weekday k days back drew 2k kW from 17:00; the weekend
    # drew 100 kW (not like a Tuesday); four days back had an event (not a normal day).
    for back in range(1, 9):
        moment = T0 - back * DAY
        await _day_of_history(db, site, moment, 100.0 if moment.weekday() >= 5 else 2.0 * back)
    await seed_dr_event(db, site, T0 - 4 * DAY, 60, [5.0])
    spans = [(T0, T0 + HOUR / 2), (T0 + HOUR / 2, T0 + HOUR)]
    async with db.sessions() as session:
        # The five most recent like days: 1, 5, 6, 7, 8 back; the three highest: 6-8.
        values, days = await x_of_y(session, site, spans, ZoneInfo("UTC"), x=3, y=5)
        assert values == [pytest.approx(14.0), pytest.approx(14.0)]
        assert days == [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)]
        # Ten of ten: every like day there is (history starts eight days back).
        values, days = await x_of_y(session, site, spans, ZoneInfo("UTC"))
        assert values[0] == pytest.approx((2 + 10 + 12 + 14 + 16) / 5) and len(days) == 5
        none, no_days = await x_of_y(session, unique("new-site"), spans, ZoneInfo("UTC"))
        assert none == [None, None] and no_days == []


async def test_the_plan_baseline_ignores_the_event_and_the_report_shows_the_saving(
    db: Database, vtn: httpx.AsyncClient
) -> None:
    """Four cars would take 44 kW; a 15 kW cap for an hour: the baseline is the plan
    without the cap (44 kW), the cars drew 15 kW, the report says 29 kWh were saved."""
    stations = [unique("BL") for _ in range(4)]
    site, _present = await _smart_site(db, stations, T0 - SLOT)
    event_id, _ = await seed_dr_event(db, site, T0, 60, [15.0])
    recorded = await BaselineActivities(db).record_baselines(BaselineRequest(event_id, [site], T0))
    assert recorded == [site]
    # Recorded once: a retry (or a later moment) leaves the first.
    assert (
        await BaselineActivities(db).record_baselines(BaselineRequest(event_id, [site], T0)) == []
    )
    async with db.sessions() as session:
        baseline = await plan_baseline(session, event_id, site)
    assert baseline is not None and baseline.quality == "OK"
    assert baseline.average(T0, T0 + HOUR) == pytest.approx(44.0, abs=0.01)
    # Each car drew 3.75 kW all along (from its start a quarter hour before).
    async with db.sessions() as session:
        active = await transactions.active_at_site(session, site)
    assert len(active) == 4
    for tx in active:
        register = [1000 + (m + 1) * 62.5 for m in range(80)]
        await store_register(db, tx.station_id, session_started(tx), register)
    report_id = await ComplianceActivities(db).report_event(event_id)
    assert report_id is not None
    async with db.sessions() as session:
        report = await session.get(DrReport, report_id)
    assert report is not None
    [resource] = report.body["resources"]
    [interval] = resource["intervals"]
    values = {p["type"]: p["values"][0] for p in interval["payloads"]}
    assert values["DEMAND"] == pytest.approx(15.0, abs=0.01)
    assert values["USAGE"] == pytest.approx(15.0, abs=0.01)
    assert values["IMPORT_CAPACITY_LIMIT"] == 15.0
    assert values["BASELINE"] == pytest.approx(44.0, abs=0.01)
    assert values["DELTA_USAGE"] == pytest.approx(29.0, abs=0.02)
    assert values["DATA_QUALITY"] == "OK"
    assert "BASELINE_X_OF_Y" not in values  # no history before the cars came
    assert compliant(resource) == [True]
    # The same as CSV and as a chart, for the operator.
    operator = {"X-API-Key": "op"}
    table = await vtn.get(f"/demand-response/reports/{report_id}/csv", headers=operator)
    assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(table.text)))
    assert row["site"] == site and float(row["baseline_kw"]) == pytest.approx(44.0, abs=0.01)
    assert row["compliant"] == "true" and row["baseline_x_of_y_kw"] == ""
    assert table.text == report_csv(report.body)
    chart = await vtn.get(f"/demand-response/reports/{report_id}/png", headers=operator)
    assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")
    missing = await vtn.get("/demand-response/reports/nope/csv", headers=operator)
    assert missing.status_code == 404
    assert (await vtn.get(f"/demand-response/reports/{report_id}/csv")).status_code == 401


async def test_a_site_without_a_plan_is_baselined_by_its_draw_just_before(
    db: Database,
) -> None:
    site, station = unique("plain"), unique("PL")
    await seed_station(db, station, site_id=site)
    now = T0
    tx = await seed_transaction(
        db, station, site_id=site, started_at=now - timedelta(minutes=30), meter_start_wh=0
    )
    # 7 kW: 116.67 Wh a minute for half an hour.
    await store_register(db, station, tx, [(m + 1) * 7000 / 60 for m in range(30)])
    event_id, _ = await seed_dr_event(db, site, now, 60, [3.0])
    await BaselineActivities(db).record_baselines(BaselineRequest(event_id, [site], now))
    async with db.sessions() as session:
        baseline = await plan_baseline(session, event_id, site)
    assert baseline is not None and baseline.quality == "ESTIMATED"
    assert baseline.average(now, now + HOUR) == pytest.approx(7.0, abs=0.01)
