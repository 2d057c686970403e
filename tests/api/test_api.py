"""The HTTP API over a real database: resources, roles, and clear 4xx answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from activities.persistence.database import Database
from activities.temporal_link import TemporalLink
from api.app import create_app
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction

OPERATOR, VIEWER = "op-key", "view-key"


@pytest.fixture
async def http(sqlite_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        sqlite_db, TemporalLink("127.0.0.1:1"), {OPERATOR: "operator", VIEWER: "viewer"}
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api", headers={"X-API-Key": OPERATOR}
    ) as client:
        yield client


async def test_keys_and_roles(http: httpx.AsyncClient) -> None:
    assert (await http.get("/sites", headers={"X-API-Key": ""})).status_code == 401
    wrong = await http.get("/sites", headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "unknown API key"
    assert (await http.get("/sites", headers={"X-API-Key": VIEWER})).status_code == 200
    bearer = await http.get(
        "/sites", headers={"X-API-Key": "", "Authorization": f"Bearer {VIEWER}"}
    )
    assert bearer.status_code == 200
    denied = await http.post(
        "/sites",
        headers={"X-API-Key": VIEWER},
        json={"id": "s", "name": "s", "price_per_kwh": "0.1"},
    )
    assert denied.status_code == 403 and "operator" in denied.json()["detail"]


async def test_sites(http: httpx.AsyncClient) -> None:
    site = unique("site")
    created = await http.post(
        "/sites", json={"id": site, "name": "Depot", "price_per_kwh": "0.2950", "currency": "EUR"}
    )
    assert created.status_code == 201
    assert created.json()["price_per_kwh"] == "0.2950"
    assert (
        await http.post("/sites", json={"id": site, "name": "x", "price_per_kwh": 1})
    ).status_code == 409
    assert (await http.get(f"/sites/{site}")).json()["name"] == "Depot"
    missing = await http.get("/sites/nowhere")
    assert missing.status_code == 404 and "nowhere" in missing.json()["detail"]
    for bad in (
        {"id": "a b", "name": "x", "price_per_kwh": 1},
        {"id": "ok", "name": "x", "price_per_kwh": -1},
        {"id": "ok", "name": "x", "price_per_kwh": 1, "currency": "euro"},
        {"id": "ok", "name": "x"},
    ):
        response = await http.post("/sites", json=bad)
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"][0] == "body"
    bad_json = await http.post(
        "/sites", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 422


async def test_station_registration_and_detail(http: httpx.AsyncClient) -> None:
    site, station = unique("site"), unique("CP")
    await http.post("/sites", json={"id": site, "name": "S", "price_per_kwh": "0.3"})
    secret = "a-long-enough-secret"
    unknown_site = await http.post(
        "/stations", json={"id": station, "site_id": "ghost", "password": secret}
    )
    assert unknown_site.status_code == 422 and "ghost" in unknown_site.json()["detail"][0]["msg"]
    short = await http.post("/stations", json={"id": station, "password": "short"})
    assert short.status_code == 422
    created = await http.post(
        "/stations", json={"id": station, "site_id": site, "password": "a-long-enough-secret"}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["security_profile"] == 1 and body["online"] is False
    assert "password" not in body and "password_hash" not in body
    again = await http.post("/stations", json={"id": station, "password": secret})
    assert again.status_code == 409
    listed = (await http.get("/stations", params={"site_id": site})).json()
    assert [s["id"] for s in listed] == [station]
    assert (await http.get("/stations/ghost")).status_code == 404


async def test_approving_a_pending_station(http: httpx.AsyncClient, sqlite_db: Database) -> None:
    from activities.persistence.models import Station

    station = unique("NEW")
    async with sqlite_db.sessions.begin() as session:
        session.add(Station(id=station, registration_status="pending"))
    approved = await http.post(
        f"/stations/{station}/approve", json={"password": "a-long-enough-secret"}
    )
    assert approved.status_code == 200 and approved.json()["registration_status"] == "accepted"
    assert (await http.post("/stations/ghost/approve")).status_code == 404


async def test_an_operator_puts_a_station_back_to_pending(
    http: httpx.AsyncClient, sqlite_db: Database
) -> None:
    from activities.persistence.models import Station

    station = unique("OLD")
    async with sqlite_db.sessions.begin() as session:
        session.add(Station(id=station, registration_status="accepted"))
    again = await http.post(f"/stations/{station}/re-register")
    assert again.status_code == 200 and again.json()["registration_status"] == "pending"
    assert (await http.post("/stations/ghost/re-register")).status_code == 404


async def test_id_token_crud(http: httpx.AsyncClient) -> None:
    tag = unique("T")[:20]
    created = await http.post("/id-tokens", json={"id_token": tag, "group_id": "fleet-a"})
    assert created.status_code == 201 and created.json()["status"] == "accepted"
    assert (await http.post("/id-tokens", json={"id_token": tag})).status_code == 409
    too_long = await http.post("/id-tokens", json={"id_token": "X" * 21})
    assert too_long.status_code == 422
    bad_status = await http.patch(f"/id-tokens/{tag}", json={"status": "vip"})
    assert bad_status.status_code == 422
    expiry = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    patched = await http.patch(
        f"/id-tokens/{tag}", json={"status": "blocked", "expires_at": expiry}
    )
    assert patched.json()["status"] == "blocked" and patched.json()["group_id"] == "fleet-a"
    assert (await http.get(f"/id-tokens/{tag}")).json()["status"] == "blocked"
    assert (await http.delete(f"/id-tokens/{tag}")).status_code == 204
    assert (await http.get(f"/id-tokens/{tag}")).status_code == 404
    assert (await http.delete(f"/id-tokens/{tag}")).status_code == 404


async def test_sessions_list_filters_and_detail_without_temporal(
    http: httpx.AsyncClient, sqlite_db: Database
) -> None:
    station = unique("CP")
    await seed_station(sqlite_db, station, site_id="api-site")
    start = await seed_transaction(sqlite_db, station, site_id="api-site")
    listed = (await http.get("/sessions", params={"station_id": station})).json()
    assert [s["transaction_id"] for s in listed] == [start.transaction_id]
    assert listed[0]["workflow_id"] == f"session:{station}:{start.transaction_id}"
    assert (
        await http.get("/sessions", params={"station_id": station, "status": "completed"})
    ).json() == []
    assert (await http.get("/sessions", params={"status": "bogus"})).status_code == 422
    assert (await http.get("/sessions", params={"limit": 0})).status_code == 422
    detail = (await http.get(f"/sessions/{listed[0]['id']}")).json()
    # Temporal is unreachable here: the database view still answers, and says why.
    assert detail["live"] is None and detail["live_error"].startswith("live state unavailable")
    assert detail["cdr"] is None and detail["samples"] == []
    assert (await http.get("/sessions/999999999")).status_code == 404
    assert (await http.get("/sessions/abc")).status_code == 422
    assert (await http.get("/cdrs/999999999")).status_code == 404


async def test_health_is_alive_and_ready_reports_each_dependency(http: httpx.AsyncClient) -> None:
    assert (await http.get("/health")).json() == {"status": "alive"}
    response = await http.get("/ready")
    assert response.status_code == 503
    assert response.json()["database"] == "ok"
    assert response.json()["temporal"].startswith("error")


async def test_openapi_documents_every_resource(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    for path in (
        "/sites",
        "/stations/{station_id}",
        "/id-tokens/{token}",
        "/sessions/{session_id}",
        "/cdrs",
    ):
        assert path in paths


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/cdrs?stopped_after=2026-01-01T00:00:00", None),
        ("GET", "/sessions?started_after=2026-01-01T00:00:00&started_before=2027-01-01", None),
        ("POST", "/id-tokens", {"id_token": "NAIVE-EXPIRY", "expires_at": "2030-01-01T00:00:00"}),
    ],
)
async def test_timestamps_without_offset_are_read_as_utc(
    http: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    response = await http.request(method, path, json=body)
    assert response.status_code in (200, 201), response.text
    if body is not None:
        assert response.json()["expires_at"] in (
            "2030-01-01T00:00:00Z",
            "2030-01-01T00:00:00+00:00",
        )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/sessions/99999999999999999999", None),
        ("GET", "/cdrs/99999999999999999999", None),
        ("GET", "/cdrs/0", None),
        ("PATCH", "/id-tokens/ANY", {"status": None}),
        ("GET", "/cdrs?stopped_after=yesterday", None),
    ],
)
async def test_bad_input_is_a_422_with_a_reason(
    http: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    response = await http.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["msg"]


async def test_station_security_profile_must_fit_its_credentials(http: httpx.AsyncClient) -> None:
    no_password = await http.post("/stations", json={"id": unique("P2"), "security_profile": 2})
    assert no_password.status_code == 422 and "needs a password" in no_password.text
    out_of_range = await http.post("/stations", json={"id": unique("P9"), "security_profile": 9})
    assert out_of_range.status_code == 422
    cert_only = await http.post(
        "/stations", json={"id": unique("P3"), "security_profile": 3, "ocpp_version": "2.0.1"}
    )
    assert cert_only.status_code == 201
    assert (cert_only.json()["security_profile"], cert_only.json()["ocpp_version"]) == (3, "2.0.1")
    default = await http.post(
        "/stations", json={"id": unique("P1"), "password": "a-long-enough-secret"}
    )
    assert default.json()["security_profile"] == 1


async def test_profile_0_is_an_explicit_choice_refused_unless_the_deployment_opts_in(
    http: httpx.AsyncClient, sqlite_db: Database
) -> None:
    """No password and no profile: 422 (it used to become profile 0 silently). Profile 0
    asked for: 422 here (the app does not allow unsecured stations), 201 where it does."""
    implicit = await http.post("/stations", json={"id": unique("P0")})
    assert implicit.status_code == 422 and "no password" in implicit.text
    explicit = await http.post("/stations", json={"id": unique("P0"), "security_profile": 0})
    assert explicit.status_code == 422 and "CSMS_ALLOW_UNSECURED_STATIONS" in explicit.text
    pending = unique("P0")
    from activities.persistence.models import Station

    async with sqlite_db.sessions.begin() as session:
        session.add(Station(id=pending, registration_status="pending"))
    assert (await http.post(f"/stations/{pending}/approve", json={})).status_code == 422
    development = create_app(
        sqlite_db,
        TemporalLink("127.0.0.1:1"),
        {OPERATOR: "operator"},
        allow_unsecured_stations=True,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=development),
        base_url="http://api",
        headers={"X-API-Key": OPERATOR},
    ) as dev:
        made = await dev.post("/stations", json={"id": unique("P0"), "security_profile": 0})
        assert made.status_code == 201 and made.json()["security_profile"] == 0
        assert (await dev.post(f"/stations/{pending}/approve", json={})).status_code == 200


async def test_approval_can_give_a_pending_station_credentials(
    http: httpx.AsyncClient, sqlite_db: Database
) -> None:
    from activities.credentials import verify_password
    from activities.persistence.models import Station

    station = unique("NEW")
    async with sqlite_db.sessions.begin() as session:
        session.add(Station(id=station, registration_status="pending"))
    short = await http.post(f"/stations/{station}/approve", json={"security_profile": 2})
    assert short.status_code == 422 and "needs a password" in short.text
    approved = await http.post(
        f"/stations/{station}/approve",
        json={"password": "a-long-enough-secret", "security_profile": 2},
    )
    assert approved.status_code == 200
    assert approved.json()["security_profile"] == 2
    async with sqlite_db.sessions() as session:
        row = await session.get(Station, station)
    assert row is not None and row.password_hash is not None
    assert verify_password("a-long-enough-secret", row.password_hash)


async def test_station_events_are_listed_newest_first(
    http: httpx.AsyncClient, sqlite_db: Database
) -> None:
    from activities.persistence.repositories import station_events

    station = unique("EV")
    await seed_station(sqlite_db, station)
    async with sqlite_db.sessions.begin() as session:
        station_events.add_event(
            session, station_id=station, kind="FirmwareStatus", payload={"status": "Downloading"}
        )
    async with sqlite_db.sessions.begin() as session:
        station_events.add_event(
            session, station_id=station, kind="SecurityEvent", payload={"status": None}
        )
    events = (await http.get(f"/stations/{station}/events")).json()
    assert [e["kind"] for e in events] == ["SecurityEvent", "FirmwareStatus"]
    firmware = (
        await http.get(f"/stations/{station}/events", params={"kind": "FirmwareStatus"})
    ).json()
    assert [e["payload"]["status"] for e in firmware] == ["Downloading"]
    assert (await http.get("/stations/ghost/events")).status_code == 404


async def test_a_command_while_temporal_is_down_is_a_quick_503(
    http: httpx.AsyncClient, sqlite_db: Database
) -> None:
    """The station is online (a gateway holds it) but Temporal cannot be reached."""
    import time

    from activities.persistence.repositories import registry

    station = unique("T503")
    await seed_station(sqlite_db, station)
    async with sqlite_db.sessions.begin() as session:
        await registry.register(
            session,
            [registry.Registration(station, "gw-x", "c-1", "1.6", None, datetime.now(UTC))],
        )
    began = time.monotonic()
    reply = await http.post(f"/stations/{station}/commands/clear-cache")
    assert reply.status_code == 503, reply.text
    assert "Temporal" in reply.json()["detail"]
    assert time.monotonic() - began < 5
