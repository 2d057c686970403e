"""The OpenADR 3 VTN: utilities' OAuth2 clients, programs and events, each utility
confined to its own objects and sites, and bad events refused with a reason."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from activities.persistence.database import Database
from activities.persistence.models import DrEvent, UtilityToken
from tests.api.conftest import VTN_OPERATOR as OPERATOR
from tests.helpers import utility_bearer


async def _client(http: httpx.AsyncClient, name: str, sites: list[str]) -> dict[str, Any]:
    created = await http.post(
        "/utilities", headers={"X-API-Key": OPERATOR}, json={"name": name, "sites": sites}
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def _token(http: httpx.AsyncClient, client: dict[str, Any]) -> dict[str, str]:
    bearer, token = await utility_bearer(http, client, scope="read_all+write_programs+write_events")
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    assert token["scope"] == "read_all write_programs write_events"  # echoed: clients check it
    return bearer


def _event(program_id: str, **overrides: Any) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(hours=2)
    body: dict[str, Any] = {
        "programID": program_id,
        "eventName": "evening peak",
        "priority": 1,
        "targets": ["dr-a"],
        "payloadDescriptors": [{"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"}],
        "intervalPeriod": {"start": start.isoformat(), "duration": "PT1H"},
        "intervals": [
            {"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [40.0]}]},
            {"id": 1, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [30.0]}]},
        ],
    }
    body.update(overrides)
    return body


async def test_a_utility_creates_a_program_and_an_event_and_reads_them_back(
    http: httpx.AsyncClient, sqlite_db: Database
) -> None:
    client = await _client(http, "Grid North", ["dr-a", "dr-b"])
    assert client["client_secret"] and client["sites"] == ["dr-a", "dr-b"]
    listed = (await http.get("/utilities", headers={"X-API-Key": OPERATOR})).json()
    ours = [c for c in listed if c["client_id"] == client["client_id"]]
    assert len(ours) == 1 and "client_secret" not in ours[0]
    bearer = await _token(http, client)
    discovery = (await http.get("/openadr3/auth/server")).json()
    assert discovery["tokenURL"].endswith("/openadr3/auth/token")

    program = await http.post(
        "/openadr3/programs",
        headers=bearer,
        json={
            "programName": "capacity",
            "payloadDescriptors": [{"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"}],
            # 3.0.1 targets are objects; read as their values.
            "targets": [{"type": "RESOURCE_NAME", "values": ["dr-a"]}],
            "programLongName": None,
        },
    )
    assert program.status_code == 201, program.text
    made = program.json()
    assert made["objectType"] == "PROGRAM" and made["targets"] == ["dr-a"]
    assert made["createdDateTime"].endswith("+00:00")
    event = await http.post("/openadr3/events", headers=bearer, json=_event(made["id"]))
    assert event.status_code == 201, event.text
    served = event.json()
    assert served["intervalPeriod"]["duration"] == "PT1H"
    assert [i["payloads"][0]["values"] for i in served["intervals"]] == [[40.0], [30.0]]
    events = await http.get("/openadr3/events", headers=bearer, params={"programID": made["id"]})
    assert [e["id"] for e in events.json()] == [served["id"]]
    async with sqlite_db.sessions() as session:
        row = await session.get(DrEvent, served["id"])
        assert row is not None and row.ends_at - row.starts_at == timedelta(hours=2)
        # The token is kept only as its digest.
        assert all(
            t.token_sha256 != bearer["Authorization"][7:]
            for t in (await session.scalars(select(UtilityToken))).all()
        )
    # Modified, then cancelled (the deleted object comes back, as clients expect).
    changed = await http.put(
        f"/openadr3/events/{served['id']}", headers=bearer, json=_event(made["id"], priority=0)
    )
    assert changed.status_code == 200 and changed.json()["priority"] == 0
    assert changed.json()["createdDateTime"] == served["createdDateTime"]
    gone = await http.delete(f"/openadr3/events/{served['id']}", headers=bearer)
    assert gone.status_code == 200 and gone.json()["id"] == served["id"]
    assert (await http.get(f"/openadr3/events/{served['id']}", headers=bearer)).status_code == 404


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"intervals": []}, "intervals"),
        (
            {"intervalPeriod": {"start": "2020-01-01T00:00:00Z", "duration": "PT1H"}},
            "in the past",
        ),
        (
            {
                "intervalPeriod": None,
                "intervals": [
                    {
                        "id": 0,
                        "intervalPeriod": {"start": "2999-01-01T00:00:00Z", "duration": "PT2H"},
                        "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [1]}],
                    },
                    {
                        "id": 1,
                        "intervalPeriod": {"start": "2999-01-01T01:00:00Z", "duration": "PT1H"},
                        "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [1]}],
                    },
                ],
            },
            "overlap",
        ),
        ({"targets": ["dr-c"]}, "unknown targets"),
        (
            {
                "intervals": [
                    {"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [-5]}]}
                ]
            },
            "negative",
        ),
        (
            {"intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.5]}]}]},
            "not one the program allows",
        ),
        ({"programID": "no-such-program"}, "unknown program"),
        ({"intervalPeriod": {"start": "2999-01-01T00:00:00", "duration": "PT1H"}}, "timezone"),
    ],
)
async def test_a_bad_event_is_refused_with_its_reason_and_nothing_is_stored(
    http: httpx.AsyncClient, sqlite_db: Database, change: dict[str, Any], reason: str
) -> None:
    client = await _client(http, "Grid South", ["dr-a"])
    bearer = await _token(http, client)
    program = await http.post(
        "/openadr3/programs",
        headers=bearer,
        json={
            "programName": "capacity",
            "payloadDescriptors": [{"payloadType": "IMPORT_CAPACITY_LIMIT"}],
        },
    )
    answer = await http.post(
        "/openadr3/events", headers=bearer, json=_event(program.json()["id"], **change)
    )
    assert answer.status_code in (400, 422), answer.text
    assert reason in answer.text
    assert (await http.get("/openadr3/events", headers=bearer)).json() == []


async def test_a_utility_sees_only_its_own_objects_and_no_other_endpoint(
    http: httpx.AsyncClient,
) -> None:
    north = await _token(http, await _client(http, "North", ["dr-a"]))
    south = await _token(http, await _client(http, "South", ["dr-b"]))
    program = (
        await http.post("/openadr3/programs", headers=north, json={"programName": "p"})
    ).json()
    event = (await http.post("/openadr3/events", headers=north, json=_event(program["id"]))).json()
    # Another utility: not found, whether it exists or not; its lists are empty.
    for path in (f"/openadr3/programs/{program['id']}", f"/openadr3/events/{event['id']}"):
        assert (await http.get(path, headers=south)).status_code == 404
        assert (await http.delete(path, headers=south)).status_code == 404
    assert (await http.get("/openadr3/programs", headers=south)).json() == []
    assert (await http.get("/openadr3/events", headers=south)).json() == []
    # South cannot file an event under North's program.
    stolen = await http.post(
        "/openadr3/events", headers=south, json=_event(program["id"], targets=["dr-b"])
    )
    assert stolen.status_code == 400
    # A utility's token is no API key, and an API key is no utility token.
    for path in ("/sites", "/stations", "/utilities", "/sessions"):
        assert (await http.get(path, headers=north)).status_code == 401
    assert (
        await http.get("/openadr3/programs", headers={"X-API-Key": OPERATOR})
    ).status_code == 401
    assert (
        await http.get("/openadr3/programs", headers={"Authorization": "Bearer forged"})
    ).status_code == 401


async def test_the_token_endpoint_refuses_what_is_not_a_valid_client(
    http: httpx.AsyncClient, sqlite_db: Database
) -> None:
    client = await _client(http, "East", ["dr-a"])
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    wrong = base64.b64encode(f"{client['client_id']}:not-the-secret".encode()).decode()
    bad = await http.post(
        "/openadr3/auth/token",
        content="grant_type=client_credentials",
        headers={**form, "Authorization": f"Basic {wrong}"},
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    password = await http.post(
        "/openadr3/auth/token",
        content=f"grant_type=password&client_id={client['client_id']}",
        headers=form,
    )
    assert password.status_code == 400 and password.json()["error"] == "unsupported_grant_type"
    # In the form instead of HTTP Basic also works.
    body = (
        f"grant_type=client_credentials&client_id={client['client_id']}"
        f"&client_secret={client['client_secret']}"
    )
    ok = await http.post("/openadr3/auth/token", content=body, headers=form)
    assert ok.status_code == 200
    # An expired token is refused.
    async with sqlite_db.sessions.begin() as session:
        for row in (await session.scalars(select(UtilityToken))).all():
            row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    expired = {"Authorization": f"Bearer {ok.json()['access_token']}"}
    assert (await http.get("/openadr3/programs", headers=expired)).status_code == 401
    unknown = await http.post(
        "/utilities", headers={"X-API-Key": OPERATOR}, json={"name": "x", "sites": ["nope"]}
    )
    assert unknown.status_code == 422 and "nope" in unknown.text


async def test_a_token_does_only_what_its_scopes_allow(http: httpx.AsyncClient) -> None:
    """Read with read_all; write programs, events and subscriptions each with its own
    write scope (403 without it, and nothing changes); a scope a utility may not hold
    is refused at the token endpoint (invalid_scope)."""
    client = await _client(http, "Grid Scoped", ["dr-a"])
    full, _ = await utility_bearer(http, client)  # no scope asked: all of a utility's
    program = await http.post("/openadr3/programs", headers=full, json={"programName": "cap"})
    assert program.status_code == 201
    reader, token = await utility_bearer(http, client, scope="read_all")
    assert token["scope"] == "read_all"
    assert (await http.get("/openadr3/programs", headers=reader)).status_code == 200
    for path, body in (
        ("/openadr3/programs", {"programName": "other"}),
        ("/openadr3/events", _event(program.json()["id"])),
        (
            "/openadr3/subscriptions",
            {
                "clientName": "ops",
                "objectOperations": [
                    {"objects": ["EVENT"], "operations": ["POST"], "callbackUrl": "https://x.test"}
                ],
            },
        ),
    ):
        refused = await http.post(path, headers=reader, json=body)
        assert refused.status_code == 403, (path, refused.text)
        assert "scope" in refused.json()["detail"]
        assert "insufficient_scope" in refused.headers["WWW-Authenticate"]
    assert [
        p["programName"] for p in (await http.get("/openadr3/programs", headers=reader)).json()
    ] == ["cap"]
    assert (await http.get("/openadr3/events", headers=reader)).json() == []
    # Writing events does not give reading them.
    writer, _ = await utility_bearer(http, client, scope="write_events")
    event = await http.post("/openadr3/events", headers=writer, json=_event(program.json()["id"]))
    assert event.status_code == 201
    assert (await http.get("/openadr3/events", headers=writer)).status_code == 403
    assert (
        await http.delete(f"/openadr3/programs/{program.json()['id']}", headers=writer)
    ).status_code == 403
    for scope in ("write_vens", "write_reports", "admin"):
        basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode())
        asked = await http.post(
            "/openadr3/auth/token",
            content=f"grant_type=client_credentials&scope=read_all+{scope}",
            headers={
                "Authorization": f"Basic {basic.decode()}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert asked.status_code == 400 and asked.json()["error"] == "invalid_scope"
        assert scope in asked.json()["error_description"]
