"""The operators' inboxes through the API: reconciliation items and outbox dead letters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from activities.persistence.database import Database
from activities.persistence.repositories import outbox, reconciliation
from activities.temporal_link import TemporalLink
from api.app import create_app
from tests.conftest import unique

OPERATOR, VIEWER = "op-key", "view-key"


@pytest.fixture
async def http(sqlite_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        sqlite_db, TemporalLink("127.0.0.1:1"), {OPERATOR: "operator", VIEWER: "viewer"}
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", headers={"X-API-Key": VIEWER}
    ) as client:
        yield client


async def test_items_are_listed_and_resolved_once(
    http: httpx.AsyncClient, sqlite_db: Database
) -> None:
    station = unique("REC")
    async with sqlite_db.sessions.begin() as session:
        for kind in ("TransactionEnded", "MeterValuesCorrected"):
            reconciliation.add_item(
                session, station_id=station, kind=kind, payload={"k": kind}, note=f"{kind} note"
            )
    listed = (await http.get("/reconciliation", params={"station_id": station})).json()
    assert [i["kind"] for i in listed] == ["TransactionEnded", "MeterValuesCorrected"]
    first = listed[0]["id"]
    body = {"resolution": "matched to CDR 12 by hand"}
    assert (await http.post(f"/reconciliation/{first}/resolve", json=body)).status_code == 403
    operator = {"X-API-Key": OPERATOR}
    done = await http.post(f"/reconciliation/{first}/resolve", json=body, headers=operator)
    assert done.status_code == 200 and done.json()["resolution"] == body["resolution"]
    again = await http.post(f"/reconciliation/{first}/resolve", json=body, headers=operator)
    assert again.status_code == 409
    still_open = (await http.get("/reconciliation", params={"station_id": station})).json()
    assert [i["kind"] for i in still_open] == ["MeterValuesCorrected"]
    resolved = (
        await http.get("/reconciliation", params={"station_id": station, "state": "resolved"})
    ).json()
    assert [i["id"] for i in resolved] == [first]
    page = (
        await http.get(
            "/reconciliation", params={"station_id": station, "state": "all", "after_id": first}
        )
    ).json()
    assert [i["id"] for i in page] == [still_open[0]["id"]]
    assert (await http.get(f"/reconciliation/{first}")).json()["resolved_at"] is not None
    assert (await http.get("/reconciliation/999999999")).status_code == 404
    empty = await http.post("/reconciliation/1/resolve", json={"resolution": ""}, headers=operator)
    assert empty.status_code == 422


async def test_dead_letters_are_listed_and_put_back(
    http: httpx.AsyncClient, sqlite_db: Database
) -> None:
    async with sqlite_db.sessions.begin() as session:
        event = outbox.enqueue(
            session, node_id="gw-x", kind="session.started", workflow_id="w", payload={}
        )
        await session.flush()
        await outbox.mark_dead(session, event.id, "does not decode", datetime.now(UTC))
    dead = (await http.get("/outbox/dead-letters")).json()
    mine = next(d for d in dead if d["id"] == event.id)
    assert mine["last_error"] == "does not decode" and mine["dead_at"] is not None
    operator = {"X-API-Key": OPERATOR}
    retry = f"/outbox/dead-letters/{event.id}/retry"
    assert (await http.post(retry)).status_code == 403
    revived = await http.post(retry, headers=operator)
    assert revived.status_code == 200 and revived.json()["dead_at"] is None
    assert (await http.post(retry, headers=operator)).status_code == 409
    assert (
        await http.post("/outbox/dead-letters/999999999/retry", headers=operator)
    ).status_code == 404
    async with sqlite_db.sessions.begin() as session:  # leave no live row for other tests
        await outbox.remove_delivered(session, [event.id])
