"""OpenADR 3 subscriptions, VENs and resources: a utility subscribes its webhooks,
each change it asked for is queued with the change itself, it sees what became of
each call; bad subscriptions are refused with a reason; another utility sees none
of it."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from activities.persistence.database import Database
from activities.persistence.models import DrDelivery
from tests.api.conftest import VTN_OPERATOR
from tests.api.test_openadr3 import _client, _event
from tests.helpers import utility_bearer

PROGRAM = {
    "programName": "capacity",
    "payloadDescriptors": [{"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"}],
}


def _subscription(url: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "clientName": "grid-ops",
        "objectOperations": [
            {
                "objects": ["EVENT", "REPORT"],
                "operations": ["POST", "PUT", "DELETE"],
                "callbackUrl": url,
                "bearerToken": "theirs",
            }
        ],
    }
    body.update(overrides)
    return body


async def _utility(http: httpx.AsyncClient, name: str, sites: list[str]) -> dict[str, str]:
    bearer, _ = await _made(http, name, sites)
    return bearer


async def _made(http: httpx.AsyncClient, name: str, sites: list[str]) -> tuple[dict[str, str], str]:
    client = await _client(http, name, sites)
    bearer, _ = await utility_bearer(http, client)  # every scope a utility may hold
    return bearer, client["client_id"]


async def _deliveries(db: Database) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(DrDelivery)) or 0)


async def test_a_subscription_is_created_read_changed_and_deleted(
    http: httpx.AsyncClient,
) -> None:
    bearer = await _utility(http, "Grid North", ["dr-a"])
    made = await http.post(
        "/openadr3/subscriptions", headers=bearer, json=_subscription("https://grid.test/hook")
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["objectType"] == "SUBSCRIPTION" and body["clientName"] == "grid-ops"
    assert body["objectOperations"][0]["bearerToken"] == "theirs"
    listed = await http.get("/openadr3/subscriptions", headers=bearer, params={"objects": "EVENT"})
    assert [s["id"] for s in listed.json()] == [body["id"]]
    none = await http.get("/openadr3/subscriptions", headers=bearer, params={"objects": "VEN"})
    assert none.json() == []
    changed = await http.put(
        f"/openadr3/subscriptions/{body['id']}",
        headers=bearer,
        json=_subscription("https://grid.test/other", clientName="renamed"),
    )
    assert changed.status_code == 200 and changed.json()["clientName"] == "renamed"
    assert changed.json()["createdDateTime"] == body["createdDateTime"]
    gone = await http.delete(f"/openadr3/subscriptions/{body['id']}", headers=bearer)
    assert gone.status_code == 200 and gone.json()["id"] == body["id"]
    missing = await http.get(f"/openadr3/subscriptions/{body['id']}", headers=bearer)
    assert missing.status_code == 404


async def test_bad_subscriptions_are_refused_with_a_reason_and_nothing_is_stored(
    http: httpx.AsyncClient,
) -> None:
    bearer = await _utility(http, "Grid North", ["dr-a"])
    hook = "https://grid.test/hook"
    bad = [
        (_subscription("ftp://grid.test/hook"), 422, "absolute http"),
        (_subscription("/relative"), 422, "absolute http"),
        (_subscription(hook, objectOperations=[]), 422, "at least 1"),
        (
            _subscription(
                hook,
                objectOperations=[{"objects": [], "operations": ["POST"], "callbackUrl": hook}],
            ),
            422,
            "at least 1",
        ),
        (
            _subscription(
                hook,
                objectOperations=[
                    {"objects": ["THINGS"], "operations": ["POST"], "callbackUrl": hook}
                ],
            ),
            422,
            "EVENT",
        ),
        (_subscription(hook, programID="no-such-program"), 400, "unknown program"),
        (_subscription(hook, targets=["dr-b"]), 400, "unknown targets"),
    ]
    for body, code, reason in bad:
        answer = await http.post("/openadr3/subscriptions", headers=bearer, json=body)
        assert answer.status_code == code, (body, answer.text)
        assert reason in answer.text
    assert (await http.get("/openadr3/subscriptions", headers=bearer)).json() == []


async def test_changes_are_queued_for_the_subscribers_that_asked_and_shown_to_them(
    http: httpx.AsyncClient, sqlite_db: Database
) -> None:
    bearer, client_id = await _made(http, "Grid North", ["dr-a", "dr-b"])
    other = await _utility(http, "Grid South", ["dr-c"])
    program = (await http.post("/openadr3/programs", headers=bearer, json=PROGRAM)).json()
    events_only = await http.post(
        "/openadr3/subscriptions", headers=bearer, json=_subscription("https://grid.test/ev")
    )
    of_dr_b = await http.post(
        "/openadr3/subscriptions",
        headers=bearer,
        json=_subscription("https://grid.test/b", targets=["dr-b"]),
    )
    theirs = await http.post(
        "/openadr3/subscriptions", headers=other, json=_subscription("https://south.test/ev")
    )
    assert {events_only.status_code, of_dr_b.status_code, theirs.status_code} == {201}
    # An event at dr-a: the dr-a-agnostic subscription only (Temporal is unreachable
    # here, so the calls wait for the worker's sweeper; they are queued all the same).
    event = (await http.post("/openadr3/events", headers=bearer, json=_event(program["id"]))).json()
    await http.put(
        f"/openadr3/events/{event['id']}", headers=bearer, json=_event(program["id"], priority=0)
    )
    await http.delete(f"/openadr3/events/{event['id']}", headers=bearer)
    calls = await http.get(
        f"/openadr3/subscriptions/{events_only.json()['id']}/deliveries", headers=bearer
    )
    assert calls.status_code == 200
    assert sorted(c["operation"] for c in calls.json()) == ["DELETE", "POST", "PUT"]
    assert all(c["status"] == "pending" and c["objectID"] == event["id"] for c in calls.json())
    assert "object" not in calls.json()[0] and "bearerToken" not in str(calls.json())
    none = await http.get(
        f"/openadr3/subscriptions/{of_dr_b.json()['id']}/deliveries", headers=bearer
    )
    assert none.json() == []
    # Another utility can neither read the deliveries nor the subscription.
    foreign = await http.get(
        f"/openadr3/subscriptions/{events_only.json()['id']}/deliveries", headers=other
    )
    assert foreign.status_code == 404
    assert (
        await http.get(f"/openadr3/subscriptions/{events_only.json()['id']}", headers=other)
    ).status_code == 404
    assert [s["id"] for s in (await http.get("/openadr3/subscriptions", headers=other)).json()] == [
        theirs.json()["id"]
    ]
    # A refused change queues nothing.
    before = await _deliveries(sqlite_db)
    refused = await http.post(
        "/openadr3/events", headers=bearer, json=_event(program["id"], targets=["dr-c"])
    )
    assert refused.status_code == 400 and await _deliveries(sqlite_db) == before
    # Operators see every utility's calls.
    listed = await http.get(
        "/demand-response/deliveries",
        headers={"X-API-Key": VTN_OPERATOR},
        params={"status": "pending", "client_id": client_id},
    )
    assert listed.status_code == 200 and len(listed.json()) == 3
    assert {c["clientID"] for c in listed.json()} == {client_id}
    assert (await http.get("/demand-response/deliveries", headers=bearer)).status_code == 401


async def test_the_utilitys_sites_are_its_vens_and_resources(http: httpx.AsyncClient) -> None:
    bearer = await _utility(http, "Grid North", ["dr-a", "dr-b"])
    vens = (await http.get("/openadr3/vens", headers=bearer)).json()
    assert [v["venName"] for v in vens] == ["dr-a", "dr-b"]
    assert all(v["objectType"] == "VEN" and v["targets"] == [v["venName"]] for v in vens)
    resources = await http.get(
        "/openadr3/resources", headers=bearer, params={"venID": vens[1]["id"]}
    )
    assert [r["resourceName"] for r in resources.json()] == ["dr-b"]
    one = await http.get(f"/openadr3/resources/{resources.json()[0]['id']}", headers=bearer)
    assert one.status_code == 200 and one.json()["venID"] == vens[1]["id"]
    of_ven = await http.get(f"/openadr3/vens/{vens[0]['id']}/resources", headers=bearer)
    assert [r["resourceName"] for r in of_ven.json()] == ["dr-a"]
    # Not another utility's site, and not changed by a utility.
    assert (await http.get("/openadr3/vens/ven-dr-c", headers=bearer)).status_code == 404
    made = await http.post("/openadr3/vens", headers=bearer, json={"venName": "mine"})
    assert made.status_code == 405
    notifiers = (await http.get("/openadr3/notifiers", headers=bearer)).json()
    assert notifiers == {"WEBHOOK": True}


async def test_an_operator_replaces_a_utilitys_webhook_key(http: httpx.AsyncClient) -> None:
    client = await _client(http, "Grid North", ["dr-a"])
    first = client["webhook_secret"]
    assert first and first != client["client_secret"]
    rotated = await http.post(
        f"/utilities/{client['client_id']}/webhook-secret", headers={"X-API-Key": VTN_OPERATOR}
    )
    assert rotated.status_code == 200 and rotated.json()["webhook_secret"] != first
    listed = (await http.get("/utilities", headers={"X-API-Key": VTN_OPERATOR})).json()
    assert "webhook_secret" not in str(listed)
    bearer, _ = await utility_bearer(http, client, scope="read_all")
    refused = await http.post(f"/utilities/{client['client_id']}/webhook-secret", headers=bearer)
    assert refused.status_code == 401
    unknown = await http.post(
        "/utilities/utility-nobody/webhook-secret", headers={"X-API-Key": VTN_OPERATOR}
    )
    assert unknown.status_code == 404
