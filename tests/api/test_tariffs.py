"""Tariffs through the API on each backend: versions, assignments, previews, refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from activities.persistence.database import Database
from activities.persistence.models import TariffVersion
from activities.persistence.repositories import tariffs as tariff_rows
from tests.api.conftest import VIEWER, api_client
from tests.conftest import unique


@pytest.fixture
async def http(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(db) as client:
        yield client


EXAMPLES = Path(__file__).parents[1] / "activities" / "billing" / "ocpi_examples"


def public_tariff(tariff_id: str, energy: str = "0.39") -> dict[str, Any]:
    """A start fee, energy and parking after a grace hour."""
    return {
        "id": tariff_id,
        "currency": "EUR",
        "elements": [
            {"price_components": [{"type": "FLAT", "price": 0.5, "vat": 21, "step_size": 1}]},
            {
                "price_components": [
                    {"type": "ENERGY", "price": energy, "vat": 21, "step_size": 1},
                    {"type": "PARKING_TIME", "price": 6, "vat": 21, "step_size": 60},
                ]
            },
        ],
        "parking_grace_s": 3600,
    }


async def make_site(http: httpx.AsyncClient) -> str:
    site = unique("site")
    made = await http.post("/sites", json={"id": site, "name": site, "price_per_kwh": "0.3"})
    assert made.status_code == 201, made.text
    return site


async def test_a_tariff_is_created_changed_as_versions_and_read_back(
    http: httpx.AsyncClient,
) -> None:
    """POST makes version 1, PUT version 2; both stay readable, exactly as written."""
    tariff_id = unique("T")
    made = await http.post("/tariffs", json=public_tariff(tariff_id))
    assert made.status_code == 201, made.text
    assert (made.json()["version"], made.json()["parking_grace_s"]) == (1, 3600)
    assert "parking_grace_s" not in made.json()["tariff"]  # not OCPI: kept beside it
    changed = await http.put(f"/tariffs/{tariff_id}", json=public_tariff(tariff_id, "0.41"))
    assert changed.status_code == 200 and changed.json()["version"] == 2
    latest = (await http.get(f"/tariffs/{tariff_id}", headers={"X-API-Key": VIEWER})).json()
    assert latest["version"] == 2
    first = (await http.get(f"/tariffs/{tariff_id}/versions/1")).json()
    assert first["tariff"]["elements"][1]["price_components"][0]["price"] == "0.39"
    versions = (await http.get(f"/tariffs/{tariff_id}/versions")).json()
    assert [v["version"] for v in versions] == [1, 2]
    listed = (await http.get("/tariffs", params={"limit": 1000})).json()
    assert [t["version"] for t in listed if t["id"] == tariff_id] == [2]


async def test_an_ocpi_example_tariff_is_stored_exactly(http: httpx.AsyncClient) -> None:
    """The specification's complex tariff goes in and comes out as the same object."""
    original = json.loads((EXAMPLES / "tariff_4_complex.json").read_text())
    original["id"] = unique("complex")
    made = await http.post("/tariffs", json=original)
    assert made.status_code == 201, made.text
    stored = made.json()["tariff"]
    as_numbers = json.loads(json.dumps(stored), parse_float=Decimal)

    def numbers(value: Any) -> Any:
        if isinstance(value, str):
            try:
                return Decimal(value)
            except ArithmeticError:
                return value
        if isinstance(value, dict):
            return {k: numbers(v) for k, v in value.items()}
        if isinstance(value, list):
            return [numbers(v) for v in value]
        return value

    expected = json.loads(json.dumps(original), parse_float=Decimal)
    assert numbers(as_numbers)["elements"] == numbers(expected)["elements"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"currency": "EURO"}, "currency: 'EURO' is not an ISO 4217 currency code"),
        (
            {"elements": [{"price_components": [{"type": "ENERGY", "price": -1, "step_size": 1}]}]},
            "elements[0].price_components[0].price: a price cannot be negative",
        ),
        (
            {
                "elements": [
                    {"price_components": [{"type": "ENERGY", "price": 1, "step_size": 1}]},
                    {
                        "price_components": [{"type": "ENERGY", "price": 2, "step_size": 1}],
                        "restrictions": {"start_time": "18:00", "end_time": "22:00"},
                    },
                ]
            },
            "can never apply",
        ),
        ({"parking_grace_s": -5}, "parking_grace_s"),
        ({"elements": "none"}, "elements"),
    ],
)
async def test_a_tariff_that_cannot_be_priced_is_refused_and_nothing_is_stored(
    http: httpx.AsyncClient, change: dict[str, Any], reason: str
) -> None:
    """422 with the field's path and reason; no version is written."""
    tariff_id = unique("bad")
    answer = await http.post("/tariffs", json={**public_tariff(tariff_id), **change})
    assert answer.status_code == 422
    assert reason in answer.json()["detail"][0]["msg"]
    assert (await http.get(f"/tariffs/{tariff_id}")).status_code == 404


async def test_ids_conflicts_and_roles(http: httpx.AsyncClient) -> None:
    """A taken id is a 409, a PUT naming another id a 422, a viewer cannot write."""
    tariff_id = unique("T")
    assert (await http.post("/tariffs", json=public_tariff(tariff_id))).status_code == 201
    again = await http.post("/tariffs", json=public_tariff(tariff_id))
    assert again.status_code == 409
    other = await http.put(f"/tariffs/{tariff_id}", json=public_tariff("someone-else"))
    assert other.status_code == 422
    viewer = {"X-API-Key": VIEWER}
    denied = await http.put(f"/tariffs/{tariff_id}", json=public_tariff(tariff_id), headers=viewer)
    assert denied.status_code == 403
    assert (await http.put("/tariffs/nope", json=public_tariff("nope"))).status_code == 404
    assert (await http.get("/tariffs", headers={"X-API-Key": ""})).status_code == 401


async def test_concurrent_changes_make_distinct_versions_or_a_409(
    http: httpx.AsyncClient,
) -> None:
    """Five PUTs at once: every answer is a new version or a 409, never a 500, and the
    versions are numbered without gaps or repeats."""
    tariff_id = unique("T")
    assert (await http.post("/tariffs", json=public_tariff(tariff_id))).status_code == 201
    answers = await asyncio.gather(
        *(
            http.put(f"/tariffs/{tariff_id}", json=public_tariff(tariff_id, f"0.4{i}"))
            for i in range(5)
        )
    )
    assert {a.status_code for a in answers} <= {200, 409}
    versions = [v["version"] for v in (await http.get(f"/tariffs/{tariff_id}/versions")).json()]
    assert versions == list(range(1, len(versions) + 1))
    assert len(versions) == 1 + sum(a.status_code == 200 for a in answers)


async def test_assignments_choose_the_most_specific_tariff(
    http: httpx.AsyncClient, db: Database
) -> None:
    """Site-wide, a station's own and a fleet's: the most specific one prices."""
    site = await make_site(http)
    site_wide, station_own, fleet = unique("site-T"), unique("station-T"), unique("fleet-T")
    for tariff_id in (site_wide, station_own, fleet):
        assert (await http.post("/tariffs", json=public_tariff(tariff_id))).status_code == 201
    for tariff_id, place in (
        (site_wide, {"site_id": site}),
        (station_own, {"site_id": site, "station_id": "CP-1"}),
        (fleet, {"site_id": site, "customer_group": "fleet"}),
    ):
        made = await http.post(f"/tariffs/{tariff_id}/assignments", json=place)
        assert made.status_code == 201, made.text
    taken = await http.post(f"/tariffs/{fleet}/assignments", json={"site_id": site})
    assert taken.status_code == 409
    async with db.sessions() as session:
        chosen = {
            (station, group): (
                await tariff_rows.tariff_for(
                    session, site, station_id=station, customer_group=group
                )
            ).tariff_id  # type: ignore[union-attr]
            for station, group in (("CP-1", "public"), ("CP-2", "public"), ("CP-2", "fleet"))
        }
    assert chosen == {
        ("CP-1", "public"): station_own,
        ("CP-2", "public"): site_wide,
        ("CP-2", "fleet"): fleet,
    }


async def test_a_tariff_in_use_cannot_be_deleted(http: httpx.AsyncClient) -> None:
    """409 while assigned (naming where); after unassigning, 204, and its versions stay
    readable for the CDRs they priced."""
    site = await make_site(http)
    tariff_id = unique("T")
    assert (await http.post("/tariffs", json=public_tariff(tariff_id))).status_code == 201
    assigned = await http.post(f"/tariffs/{tariff_id}/assignments", json={"site_id": site})
    refused = await http.delete(f"/tariffs/{tariff_id}")
    assert refused.status_code == 409 and f"site {site}" in refused.json()["detail"]
    assert (await http.get(f"/tariffs/{tariff_id}")).status_code == 200
    gone = await http.delete(f"/tariffs/{tariff_id}/assignments/{assigned.json()['id']}")
    assert gone.status_code == 204
    assert (await http.delete(f"/tariffs/{tariff_id}")).status_code == 204
    assert (await http.get(f"/tariffs/{tariff_id}")).status_code == 404
    kept = await http.get(f"/tariffs/{tariff_id}/versions/1")
    assert kept.status_code == 200 and kept.json()["deleted"] is True
    assert (await http.post("/tariffs", json=public_tariff(tariff_id))).status_code == 409


async def test_an_assignment_to_an_unknown_site_is_refused(http: httpx.AsyncClient) -> None:
    """422 with the reason; an EVSE without its station too."""
    tariff_id = unique("T")
    assert (await http.post("/tariffs", json=public_tariff(tariff_id))).status_code == 201
    unknown = await http.post(f"/tariffs/{tariff_id}/assignments", json={"site_id": "nowhere"})
    assert unknown.status_code == 422 and "does not exist" in unknown.json()["detail"][0]["msg"]
    site = await make_site(http)
    evse = await http.post(
        f"/tariffs/{tariff_id}/assignments", json={"site_id": site, "evse_id": 2}
    )
    assert evse.status_code == 422


async def test_a_cost_preview_prices_a_hypothetical_session(http: httpx.AsyncClient) -> None:
    """20 kWh in two hours, then 90 minutes parked (60 free): €0.50 + 20 x €0.39 + 30
    minutes at €6/h = €11.30, with 21 % VAT €13.673 -> €13.67."""
    tariff_id = unique("T")
    assert (await http.post("/tariffs", json=public_tariff(tariff_id))).status_code == 201
    answer = await http.post(
        f"/tariffs/{tariff_id}/preview",
        json={
            "start": "2026-06-01T08:00:00Z",
            "charging_minutes": 120,
            "energy_kwh": "20",
            "parking_minutes": 90,
            "time_zone": "Europe/Amsterdam",
        },
        headers={"X-API-Key": VIEWER},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["totals"]["total_cost"] == {"excl_vat": "11.30", "incl_vat": "13.67"}
    assert [line["dimension"] for line in body["lines"]] == ["FLAT", "ENERGY", "PARKING_TIME"]
    bad_zone = await http.post(
        f"/tariffs/{tariff_id}/preview",
        json={
            "start": "2026-06-01T08:00:00Z",
            "charging_minutes": 60,
            "energy_kwh": 5,
            "time_zone": "Mars/Olympus",
        },
    )
    assert bad_zone.status_code == 422 and "IANA" in bad_zone.json()["detail"][0]["msg"]


async def test_a_stored_version_that_cannot_be_priced_is_a_409_not_a_500(
    http: httpx.AsyncClient, db: Database
) -> None:
    tariff_id = unique("T")
    assert (await http.post("/tariffs", json=public_tariff(tariff_id))).status_code == 201
    async with db.sessions.begin() as session:
        row = await session.scalar(
            select(TariffVersion).where(TariffVersion.tariff_id == tariff_id)
        )
        assert row is not None
        row.body = {**row.body, "currency": "XXX"}  # changed outside the API
    answer = await http.post(
        f"/tariffs/{tariff_id}/preview",
        json={"start": "2026-06-01T08:00:00Z", "charging_minutes": 60, "energy_kwh": "5"},
    )
    assert answer.status_code == 409 and "cannot be priced" in answer.text
