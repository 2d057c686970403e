"""Depot managers' keys reach their own sites' smart charging and plans, nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from activities.persistence.database import Database
from activities.temporal_link import TemporalLink
from api.app import create_app
from api.auth import parse_grant
from deploy.settings import Settings

OPERATOR, VIEWER, MANAGER = "op-key", "view-key", "depot-key"
CONFIG = {
    "connection_kw": 22,
    "chargers": [{"station_id": "DS-1"}],
    "prices": [{"start_hour": 0, "end_hour": 24, "price_per_kwh": 0.2}],
}


@pytest.fixture
async def http(sqlite_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    keys = {OPERATOR: "operator", VIEWER: "viewer", MANAGER: "depot_manager:ds-mine"}
    app = create_app(sqlite_db, TemporalLink("127.0.0.1:1"), keys, allow_unsecured_stations=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        for site in ("ds-mine", "ds-other"):
            await client.post(
                "/sites",
                headers={"X-API-Key": OPERATOR},
                json={"id": site, "name": site, "price_per_kwh": "0.2", "currency": "EUR"},
            )
        for station, site in (("DS-1", "ds-mine"), ("DS-2", "ds-other")):
            await client.post(
                "/stations",
                headers={"X-API-Key": OPERATOR},
                json={"id": station, "site_id": site, "security_profile": 0},
            )
        yield client


async def test_depot_manager_reaches_only_its_sites(http: httpx.AsyncClient) -> None:
    """Own site: allowed (Temporal being down here gives 503, not 403); another site,
    or any global endpoint: 403 with the reason."""
    mine = await http.put(
        "/sites/ds-mine/smart-charging", json=CONFIG, headers={"X-API-Key": MANAGER}
    )
    assert mine.status_code == 503, mine.text
    other = await http.put(
        "/sites/ds-other/smart-charging", json=CONFIG, headers={"X-API-Key": MANAGER}
    )
    assert other.status_code == 403 and "ds-other" in other.json()["detail"]
    stations = await http.get("/stations", headers={"X-API-Key": MANAGER})
    assert stations.status_code == 403
    assert (
        await http.get("/sites/ds-mine/smart-charging", headers={"X-API-Key": MANAGER})
    ).status_code == 200


async def test_a_site_names_only_its_own_stations(http: httpx.AsyncClient) -> None:
    """Another site's station and a station that does not exist get the same answer, so
    a depot manager learns nothing about other sites."""
    answers = []
    for station in ("DS-2", "DS-NOWHERE"):
        config = {**CONFIG, "chargers": [{"station_id": station}]}
        reply = await http.put(
            "/sites/ds-mine/smart-charging", json=config, headers={"X-API-Key": MANAGER}
        )
        assert reply.status_code == 422, reply.text
        answers.append(str(reply.json()["detail"]).replace(station, "<station>"))
    assert answers[0] == answers[1] and "not at site ds-mine" in answers[0]


async def test_viewers_read_but_do_not_configure(http: httpx.AsyncClient) -> None:
    """A viewer reads any site's configuration, and may not change it."""
    refused = await http.put(
        "/sites/ds-mine/smart-charging", json=CONFIG, headers={"X-API-Key": VIEWER}
    )
    assert refused.status_code == 403
    missing = await http.get("/sites/ds-other/smart-charging", headers={"X-API-Key": VIEWER})
    assert missing.status_code == 404


def test_grants_are_checked() -> None:
    """A depot manager key must name its sites; unknown roles are refused at startup."""
    assert parse_grant("depot_manager:a,b").sites == frozenset({"a", "b"})
    with pytest.raises(ValueError):
        parse_grant("depot_manager")
    with pytest.raises(ValueError):
        Settings(api_keys={"k": "admin"})


async def test_a_sites_plan_may_take_its_prices_from_its_tariff(http: httpx.AsyncClient) -> None:
    """The plan's bands are the billing tariff's energy prices by time of day; a tariff
    that does not exist, or leaves hours without a price, is refused with the reason."""
    op = {"X-API-Key": OPERATOR}
    tariff = {
        "id": "ds-tariff",
        "currency": "EUR",
        "elements": [
            {
                "price_components": [
                    {"type": "ENERGY", "price": "0.18", "vat": 21, "step_size": 1}
                ],
                "restrictions": {"start_time": "22:00", "end_time": "06:00"},
            },
            {"price_components": [{"type": "ENERGY", "price": "0.36", "vat": 21, "step_size": 1}]},
        ],
    }
    assert (await http.post("/tariffs", json=tariff, headers=op)).status_code == 201
    config = {**CONFIG, "tariff_id": "ds-tariff", "prices": []}
    stored = await http.put("/sites/ds-mine/smart-charging", json=config, headers=op)
    assert stored.status_code == 503  # stored; Temporal is away here
    read = (await http.get("/sites/ds-mine/smart-charging", headers=op)).json()
    assert read["config"]["tariff_id"] == "ds-tariff"
    assert read["config"]["prices"] == [
        {"start_hour": 0.0, "end_hour": 6.0, "price_per_kwh": 0.18},
        {"start_hour": 6.0, "end_hour": 22.0, "price_per_kwh": 0.36},
        {"start_hour": 22.0, "end_hour": 24.0, "price_per_kwh": 0.18},
    ]
    unknown = await http.put(
        "/sites/ds-mine/smart-charging", json={**config, "tariff_id": "nope"}, headers=op
    )
    assert unknown.status_code == 422 and "no tariff 'nope'" in unknown.text
    by_day = {**tariff, "id": "ds-day", "elements": tariff["elements"][:1]}
    assert (await http.post("/tariffs", json=by_day, headers=op)).status_code == 201
    gap = await http.put(
        "/sites/ds-mine/smart-charging", json={**config, "tariff_id": "ds-day"}, headers=op
    )
    assert gap.status_code == 422 and "no energy price at 06:00" in gap.text
