"""CDRs through the API on each backend: cost lines, the tariff version, filters, the
CSV export, and no way to change one."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from activities.persistence.database import Database
from activities.sessions import SessionActivities, SettleRequest
from tests.api.conftest import VIEWER, api_client
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction
from workflows.domain import SessionStopped


@pytest.fixture
async def http(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(db) as client:
        yield client


NIGHT_TARIFF = {
    "currency": "EUR",
    "elements": [
        {
            "price_components": [{"type": "ENERGY", "price": "0.20", "vat": 21, "step_size": 1}],
            "restrictions": {"start_time": "23:00", "end_time": "07:00"},
        },
        {"price_components": [{"type": "ENERGY", "price": "0.40", "vat": 21, "step_size": 1}]},
    ],
}


async def _settled_session(db: Database, http: httpx.AsyncClient) -> tuple[str, str, str]:
    """A site in Amsterdam with a day/night tariff, and one 8 kWh session of two hours
    settled there (started now, after the tariff was made)."""
    site, station, tariff = unique("site"), unique("CP"), unique("T")
    made = await http.post(
        "/sites",
        json={"id": site, "name": site, "price_per_kwh": "0.3", "time_zone": "Europe/Amsterdam"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["time_zone"] == "Europe/Amsterdam"
    created = await http.post("/tariffs", json={"id": tariff, **NIGHT_TARIFF})
    assert created.status_code == 201, created.text
    assigned = await http.post(f"/tariffs/{tariff}/assignments", json={"site_id": site})
    assert assigned.status_code == 201, assigned.text
    await seed_station(db, station, site_id=site)
    start = await seed_transaction(
        db, station, site_id=site, meter_start_wh=0, started_at=datetime.now(UTC)
    )
    stop = SessionStopped(
        start.transaction_id, 8000, start.started_at + timedelta(hours=2), "Local"
    )
    await SessionActivities(db).settle_session(SettleRequest(start=start, stop=stop))
    return site, station, tariff


async def test_a_cdr_shows_its_cost_lines_and_the_tariff_version(
    db: Database, http: httpx.AsyncClient
) -> None:
    site, station, tariff = await _settled_session(db, http)
    listed = await http.get("/cdrs", params={"tariff_id": tariff})
    assert listed.status_code == 200, listed.text
    [cdr] = listed.json()
    assert (cdr["station_id"], cdr["site_id"], cdr["tariff_id"], cdr["tariff_version"]) == (
        station,
        site,
        tariff,
        1,
    )
    lines = cdr["cost_lines"]
    assert lines and all(line["category"] == "energy" for line in lines)
    assert sum(Decimal(line["incl_vat"]) for line in lines) == Decimal(cdr["total_cost"])
    assert Decimal(cdr["total_excl_vat"]) + Decimal(cdr["total_vat"]) == Decimal(cdr["total_cost"])
    assert sum(Decimal(line["quantity"]) for line in lines) == 8
    assert cdr["charging_periods"][0]["tariff_id"] == tariff
    one = await http.get(f"/cdrs/{cdr['id']}", headers={"X-API-Key": VIEWER})
    assert one.status_code == 200 and one.json() == cdr
    by_token = await http.get("/cdrs", params={"id_token": "TAG-1", "site_id": site})
    assert [c["id"] for c in by_token.json()] == [cdr["id"]]
    assert (await http.get("/cdrs", params={"id_token": "nobody", "site_id": site})).json() == []


async def test_the_csv_export_matches_the_api(db: Database, http: httpx.AsyncClient) -> None:
    site, _, _ = await _settled_session(db, http)
    await _settled_session(db, http)  # another site's: not in this export
    exported = await http.get("/cdrs/export.csv", params={"site_id": site})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    [cdr] = (await http.get("/cdrs", params={"site_id": site})).json()
    assert len(rows) == 1
    row = rows[0]
    assert int(row["id"]) == cdr["id"] and row["site_id"] == site
    assert Decimal(row["total_incl_vat"]) == Decimal(cdr["total_cost"])
    assert Decimal(row["energy_cost_excl_vat"]) == Decimal(cdr["total_excl_vat"])
    assert Decimal(row["energy_kwh"]) == 8


async def test_nobody_changes_a_cdr_and_strangers_read_none(
    db: Database, http: httpx.AsyncClient
) -> None:
    site, _, _ = await _settled_session(db, http)
    [cdr] = (await http.get("/cdrs", params={"site_id": site})).json()
    for method in ("PUT", "PATCH", "DELETE"):
        answer = await http.request(method, f"/cdrs/{cdr['id']}", json={"total_cost": "0"})
        assert answer.status_code == 405, (method, answer.text)
    for path in ("/cdrs", f"/cdrs/{cdr['id']}", "/cdrs/export.csv"):
        assert (await http.get(path, headers={"X-API-Key": "wrong"})).status_code == 401
    bad = await http.post(
        "/sites",
        json={"id": unique("site"), "name": "x", "price_per_kwh": "0.3", "time_zone": "Mars/Base"},
    )
    assert bad.status_code == 422 and "IANA" in bad.text
