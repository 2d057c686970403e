"""Input that used to be a 500 (found by attacking the API): now a 4xx with a reason, on
each backend (NUL characters and out-of-range integers fail only on PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from activities.persistence.database import Database
from activities.temporal_link import TemporalLink
from api.app import create_app

KEY = "bad-input-key"


@pytest.fixture
async def http(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(db, TemporalLink("127.0.0.1:1"), {KEY: "operator"})
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"X-API-Key": KEY}
    ) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("GET", "/stations/a%00b", None, "path"),
        ("GET", "/sessions?station_id=a%00", None, "query"),
        ("GET", "/cdrs?station_id=%00", None, "query"),
        ("POST", "/sites", {"id": "x\u0000y", "name": "n", "price_per_kwh": "0.1"}, "body"),
        ("POST", "/id-tokens", {"id_token": "T\u0000"}, "body"),
        ("GET", "/cdrs?offset=9223372036854775808", None, "query"),
        ("GET", "/stations/X/messages?before_id=9223372036854775808", None, "query"),
        ("GET", "/cdrs?stopped_after=0001-01-01T00:00:00Z", None, "query"),
        ("GET", "/sessions?started_before=9999-12-31T23:59:59-01:00", None, "query"),
        ("DELETE", "/stations/X/reservations/4294967296", None, "path"),
        (
            "POST",
            "/stations/X/commands/remote-start",
            {"id_token": "T", "remote_start_id": 2**31},
            "body",
        ),
        ("POST", "/stations/X/commands/trigger-message", None, "body"),
    ],
)
async def test_bad_input_is_a_422_in_the_documented_shape(
    http: httpx.AsyncClient, method: str, path: str, body: object, where: str
) -> None:
    reply = await http.request(method, path, json=body)
    assert reply.status_code == 422, reply.text
    detail = reply.json()["detail"]
    assert isinstance(detail, list) and detail[0]["msg"], detail
    assert detail[0]["loc"][0] == where, detail


async def test_a_what_if_circuit_with_an_unknown_parent_is_a_422(
    http: httpx.AsyncClient,
) -> None:
    site = {"id": "wi-site", "name": "w", "price_per_kwh": "0.2", "currency": "EUR"}
    await http.post("/sites", json=site)
    config = {
        "connection_kw": 50,
        "circuits": [{"id": "feeder", "limit_kw": 20, "parent": "ghost"}],
        "chargers": [{"station_id": "WI-1", "circuit": "feeder"}],
        "prices": [{"start_hour": 0, "end_hour": 24, "price_per_kwh": 0.2}],
    }
    vehicle = {"station_id": "WI-1", "energy_kwh": 10, "departure": "2030-01-01T06:00:00Z"}
    reply = await http.post(
        "/sites/wi-site/what-if", json={"vehicles": [vehicle], "config": config}
    )
    assert reply.status_code == 422, reply.text
    assert "unknown parent ghost" in reply.json()["detail"][0]["msg"]


@pytest.mark.parametrize("content_type", ["APPLICATION/JSON", "application/merge-patch+json"])
async def test_nul_is_refused_whatever_json_media_type_is_named(
    http: httpx.AsyncClient, content_type: str
) -> None:
    reply = await http.post(
        "/sites",
        content=b'{"id": "x\\u0000y", "name": "n", "price_per_kwh": "0.1"}',
        headers={"Content-Type": content_type},
    )
    assert reply.status_code == 422, reply.text
