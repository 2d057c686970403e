"""Utilities' events as the site's planner sees them: import caps and prices per slot,
overlaps resolved by priority then the tighter limit, and plans that keep to them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from activities.compliance import ComplianceActivities, compliant
from activities.demand_response import Ask, per_slot
from activities.persistence.database import Database
from activities.persistence.models import SiteCharging
from activities.persistence.types import to_json
from activities.smart_charging import SmartChargingActivities
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction, utility_bearer
from workflows.smart_charging import (
    PlanRequest,
    PresentVehicle,
    PriceBand,
    SiteCharger,
    SiteChargingConfig,
)

T0 = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
SLOT = timedelta(minutes=15)


def ask(start: int, end: int, kind: str, value: float, priority: int = 1, name: str = "e") -> Ask:
    return Ask(name, T0 + start * SLOT, T0 + end * SLOT, priority, kind, value)


def test_overlaps_resolve_by_priority_then_the_tighter_limit() -> None:
    asks = [
        ask(0, 4, "IMPORT_CAPACITY_LIMIT", 40.0, priority=2),
        ask(2, 6, "IMPORT_CAPACITY_LIMIT", 60.0, priority=1),  # higher priority: wins
        ask(4, 6, "IMPORT_CAPACITY_LIMIT", 30.0, priority=1),  # same priority: tighter
        ask(6, 8, "SIMPLE", 2),  # half the 100 kW connection withheld
    ]
    slots = per_slot(asks, T0, SLOT, 10, connection_kw=100.0)
    assert slots.import_limit_kw == [40, 40, 60, 60, 30, 30, 50, 50, None, None]
    assert slots.price_per_kwh == [None] * 10 and slots.any


def test_an_interval_that_covers_part_of_a_slot_applies_to_all_of_it() -> None:
    partial = Ask("e", T0 + timedelta(minutes=20), T0 + timedelta(minutes=35), 0, "PRICE", 0.9)
    slots = per_slot([partial], T0, SLOT, 4, connection_kw=50.0)
    assert slots.price_per_kwh == [None, 0.9, 0.9, None]
    assert slots.import_limit_kw == [None] * 4


async def _utility(vtn: httpx.AsyncClient, sites: list[str]) -> dict[str, str]:
    made = (
        await vtn.post(
            "/utilities", headers={"X-API-Key": "op"}, json={"name": "Grid", "sites": sites}
        )
    ).json()
    bearer, _ = await utility_bearer(vtn, made)
    return bearer


async def _event(
    vtn: httpx.AsyncClient, bearer: dict[str, str], kind: str, value: float, **fields: Any
) -> dict[str, Any]:
    program = await vtn.post(
        "/openadr3/programs", headers=bearer, json={"programName": unique("p")}
    )
    body = {
        "programID": program.json()["id"],
        "intervals": [{"id": 0, "payloads": [{"type": kind, "values": [value]}]}],
        **fields,
    }
    answer = await vtn.post("/openadr3/events", headers=bearer, json=body)
    assert answer.status_code == 201, answer.text
    event: dict[str, Any] = answer.json()
    return event


async def _smart_site(
    db: Database, stations: list[str], arrived: datetime | None = None
) -> tuple[str, list[PresentVehicle]]:
    site = unique("dr-site")
    for station in stations:
        await seed_station(db, station, site_id=site)
    config = SiteChargingConfig(
        connection_kw=44.0,
        chargers=[SiteCharger(s, 1, 11.0) for s in stations],
        prices=[PriceBand(0, 24, 0.2)],
        departure_margin_hours=0.0,
    )
    async with db.sessions.begin() as session:
        session.add(SiteCharging(site_id=site, config=to_json(config), enabled=True))
    # By default the cars arrived a quarter hour ago by the wall clock: the utility's
    # events start now (the VTN refuses events that are over), and the cars' default
    # stay must outlast them whatever the time of day the test runs at.
    if arrived is None:
        arrived = datetime.now(UTC).replace(second=0, microsecond=0) - SLOT
    present = []
    for station in stations:
        start = await seed_transaction(db, station, site_id=site, started_at=arrived)
        present.append(
            PresentVehicle(f"{station}#1", station, 1, start.transaction_id, arrived, 1000)
        )
    return site, present


async def test_an_import_limit_holds_in_the_sites_plan_and_only_there(
    db: Database, vtn: httpx.AsyncClient
) -> None:
    """Four cars that would take 44 kW; the utility caps the site at 15 kW for an hour
    from now: the plan keeps to 15 kW in those slots; a site the event does not target
    plans as before."""
    stations = [unique("DR") for _ in range(4)]
    site, present = await _smart_site(db, stations)
    other_stations = [unique("DR") for _ in range(4)]
    other, other_present = await _smart_site(db, other_stations)
    bearer = await _utility(vtn, [site, other])
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    await _event(
        vtn,
        bearer,
        "IMPORT_CAPACITY_LIMIT",
        15.0,
        targets=[site],
        intervalPeriod={"start": now.isoformat(), "duration": "PT1H"},
    )
    activities = SmartChargingActivities(db)
    plan = await activities.plan_site(PlanRequest(site, present, now))
    per_slot_kw = [sum(s[t] for s in plan.power_kw.values()) for t in range(8)]
    assert plan.site_limit_kw[:4] == [15.0] * 4 and plan.site_limit_kw[5] == 44.0
    assert max(per_slot_kw[:4]) <= 15.0 + 1e-6
    assert max(per_slot_kw[5:8]) > 15.0  # lifted after the hour
    assert "demand response" in plan.summary
    untouched = await activities.plan_site(PlanRequest(other, other_present, now))
    assert untouched.site_limit_kw[:4] == [44.0] * 4


async def test_a_price_event_moves_charging_out_of_the_expensive_interval(
    db: Database, vtn: httpx.AsyncClient
) -> None:
    stations = [unique("DR") for _ in range(2)]
    site, present = await _smart_site(db, stations)
    bearer = await _utility(vtn, [site])
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    activities = SmartChargingActivities(db)
    before = await activities.plan_site(PlanRequest(site, present, now))
    await _event(
        vtn,
        bearer,
        "PRICE",
        2.0,
        intervalPeriod={"start": now.isoformat(), "duration": "PT2H"},
    )  # no targets: every site of the utility
    after = await activities.plan_site(PlanRequest(site, present, now))
    assert after.price_per_kwh[:8] == [2.0] * 8
    hours = 0.25

    def cost(plan_kw: dict[str, list[float]]) -> float:
        return sum(
            kw * hours * after.price_per_kwh[t] for s in plan_kw.values() for t, kw in enumerate(s)
        )

    early = sum(sum(s[:8]) for s in before.power_kw.values())
    assert early > 0  # the plan charged in those two hours before the event...
    assert sum(sum(s[:8]) for s in after.power_kw.values()) < early * 0.1  # ...and not now
    assert cost(after.power_kw) < cost(before.power_kw)


async def test_an_operator_opts_a_site_out_and_its_plans_ignore_the_event(
    db: Database, vtn: httpx.AsyncClient
) -> None:
    stations = [unique("DR") for _ in range(4)]
    site, present = await _smart_site(db, stations)
    bearer = await _utility(vtn, [site])
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    event = await _event(
        vtn,
        bearer,
        "IMPORT_CAPACITY_LIMIT",
        15.0,
        intervalPeriod={"start": now.isoformat(), "duration": "PT1H"},
    )
    activities = SmartChargingActivities(db)
    assert (await activities.plan_site(PlanRequest(site, present, now))).site_limit_kw[0] == 15.0
    operator = {"X-API-Key": "op"}
    path = f"/demand-response/events/{event['id']}/opt-outs"
    out = await vtn.post(path, headers=operator, json={"site_id": site, "reason": "fleet due out"})
    assert out.status_code == 201, out.text
    assert (await activities.plan_site(PlanRequest(site, present, now))).site_limit_kw[0] == 44.0
    again = await vtn.post(path, headers=operator, json={"site_id": site, "reason": "twice"})
    assert again.status_code == 409
    elsewhere = await vtn.post(path, headers=operator, json={"site_id": "nope", "reason": "x"})
    assert elsewhere.status_code == 422 and "not targeted" in elsewhere.text
    unknown = await vtn.post(
        "/demand-response/events/nope/opt-outs",
        headers=operator,
        json={"site_id": site, "reason": "x"},
    )
    assert unknown.status_code == 404
    listed = (await vtn.get("/demand-response/events", headers=operator)).json()
    mine = [e for e in listed if e["event"]["id"] == event["id"]]
    assert mine[0]["opt_outs"] == [{"site_id": site, "reason": "fleet due out"}]
    # The utility's own token cannot opt anyone out.
    assert (
        await vtn.post(path, headers=bearer, json={"site_id": site, "reason": "x"})
    ).status_code == 401
    # The event's report says the site was opted out, and why.
    report_id = await ComplianceActivities(db).report_event(event["id"])
    report = (await vtn.get(f"/openadr3/reports/{report_id}", headers=bearer)).json()
    [resource] = report["resources"]
    payloads = {p["type"]: p["values"] for p in resource["intervals"][0]["payloads"]}
    assert payloads["OPT_OUT"] == ["fleet due out"]
    assert compliant(resource) == [None]


async def test_a_programs_simple_levels_say_what_each_level_withholds(
    db: Database, vtn: httpx.AsyncClient
) -> None:
    stations = [unique("DR") for _ in range(4)]
    site, present = await _smart_site(db, stations)
    bearer = await _utility(vtn, [site])
    levels = {"type": "SIMPLE_LEVELS", "values": [0, 10, 20, 90]}
    for bad in ([0, 10, 20], [0, 50, 20, 90], [0, 10, 20, 190], [0, 10, 20, "lots"]):
        refused = await vtn.post(
            "/openadr3/programs",
            headers=bearer,
            json={"programName": "simple", "attributes": [{**levels, "values": bad}]},
        )
        assert refused.status_code == 400 and "SIMPLE_LEVELS" in refused.text, bad
    program = await vtn.post(
        "/openadr3/programs",
        headers=bearer,
        json={"programName": "simple", "attributes": [levels]},
    )
    assert program.status_code == 201, program.text
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    event = await vtn.post(
        "/openadr3/events",
        headers=bearer,
        json={
            "programID": program.json()["id"],
            "intervalPeriod": {"start": now.isoformat(), "duration": "PT1H"},
            "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [3]}]}],
        },
    )
    assert event.status_code == 201, event.text
    plan = await SmartChargingActivities(db).plan_site(PlanRequest(site, present, now))
    # Level 3 withholds 90% of the 44 kW connection (the default would be 75%).
    assert plan.site_limit_kw[0] == pytest.approx(4.4)
