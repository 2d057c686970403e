"""Sessions that used to be lost, played by strict ocpp-rpc chargers against a whole stack.

- a late plug-in after a remote start gave up waiting;
- a 2.x station reusing a transaction id for a second session;
- a stop for a session whose workflow had already closed;
- a long session's history (no progress signals, whatever its length).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

from activities.persistence.models import RemoteStart
from activities.persistence.repositories import reconciliation
from deploy.stack import Stack
from tests.conftest import unique
from tests.deploy.conftest import api_client, eventually
from tests.deploy.live_stations import booted_station
from workflows.domain import session_workflow_id

VERSIONS = ["ocpp1.6", "ocpp2.0.1"]
TOKEN = "TAG-KEPT"


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(stack) as client:
        yield client


def _client(stack: Stack) -> Client:
    assert stack.worker is not None
    return stack.worker.client


def _meter(wh: float, at: str, context: str = "Sample.Periodic") -> list[dict[str, Any]]:
    return [
        {
            "timestamp": at,
            "sampledValue": [
                {"value": wh, "context": context, "measurand": "Energy.Active.Import.Register"},
                {"value": 7400, "context": context, "measurand": "Power.Active.Import"},
            ],
        }
    ]


def _event(kind: str, tx: str, seq: int, at: str, wh: float, **info: Any) -> dict[str, Any]:
    return {
        "eventType": kind,
        "timestamp": at,
        "triggerReason": "Authorized" if kind == "Started" else "MeterValuePeriodic",
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx, **info},
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": TOKEN, "type": "ISO14443"},
        "meterValue": _meter(wh, at),
    }


async def _cdrs(http: httpx.AsyncClient, station_id: str, count: int) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        found = (await http.get("/cdrs", params={"station_id": station_id})).json()
        return found if len(found) >= count else None

    return await eventually(probe)


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_a_late_plug_in_after_a_remote_start_gets_its_own_session_and_cdr(
    stack: Stack, http: httpx.AsyncClient, protocol: str
) -> None:
    """The charger accepts, the workflow gives up waiting (start timeout) and expires the
    claim in the database; the driver plugs in later. The transaction is not attached
    to the closed workflow (no CDR, no trace, before): it has its own session and CDR."""
    station_id = unique("LATE")
    station = await booted_station(
        stack, station_id, protocol, site_id="late-site", tokens={TOKEN: "accepted"}
    )
    try:
        made = await http.post(
            f"/stations/{station_id}/commands/remote-start",
            params={"start_timeout_s": 0.5},
            json={"id_token": TOKEN, "evse_id": 1},
        )
        assert made.status_code == 200 and made.json()["reply"]["status"] == "Accepted", made.text
        remote = _client(stack).get_workflow_handle(made.json()["workflow_id"])
        assert await remote.result() is None  # not started: nobody plugged in in time
        remote_start_id = made.json()["remote_start_id"]
        # Still inside the gateway's old matching window (command timeout + start timeout).
        if protocol == "ocpp1.6":
            started = await station.call(
                "StartTransaction",
                {"connectorId": 1, "idTag": TOKEN, "meterStart": 1000, "timestamp": _at(0)},
            )
            tx = str(started["transactionId"])
            await station.call(
                "StopTransaction",
                {"transactionId": int(tx), "meterStop": 4000, "timestamp": _at(60)},
            )
        else:
            tx = unique("tx")
            await station.call(
                "TransactionEvent",
                _event("Started", tx, 0, _at(0), 1000, remoteStartId=remote_start_id),
            )
            await station.call(
                "TransactionEvent",
                {**_event("Ended", tx, 1, _at(60), 4000), "triggerReason": "EVCommunicationLost"},
            )
    finally:
        await station.close()
    (cdr,) = await _cdrs(http, station_id, 1)
    assert cdr["transaction_id"] == tx and cdr["energy_wh"] == 3000
    own = await _client(stack).get_workflow_handle(session_workflow_id(station_id, tx)).result()
    assert own["energy_wh"] == 3000
    assert (await remote.query("state"))["state"] == "not_started"
    async with stack.db.sessions() as session:
        row = await session.scalar(select(RemoteStart).where(RemoteStart.station_id == station_id))
    assert row is not None and row.expired_at is not None and row.transaction_pk is None


def _at(minutes: float) -> str:
    """An OCPP time ``minutes`` after a fixed start."""
    at = datetime(2030, 2, 1, 10, tzinfo=UTC) + timedelta(minutes=minutes)
    return at.isoformat().replace("+00:00", "Z")


async def test_a_2x_station_reusing_a_transaction_id_gets_two_sessions(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    """Two complete sessions both called "TX-1": two CDRs (the second used to be
    acknowledged and dropped as a repeat)."""
    station_id = unique("REUSE")
    station = await booted_station(
        stack, station_id, "ocpp2.0.1", site_id="reuse-site", tokens={TOKEN: "accepted"}
    )
    try:
        for day, (begin, end) in enumerate(((1000, 3000), (3000, 8000)), start=10):
            at = f"2030-03-{day}T08:00:00Z"
            stop_at = f"2030-03-{day}T09:00:00Z"
            await station.call("TransactionEvent", _event("Started", "TX-1", 0, at, begin))
            ended = {**_event("Ended", "TX-1", 1, stop_at, end), "triggerReason": "StopAuthorized"}
            await station.call("TransactionEvent", ended)
            await station.call("TransactionEvent", ended)  # a repeat: still one session
    finally:
        await station.close()
    cdrs = await _cdrs(http, station_id, 2)
    assert sorted(c["energy_wh"] for c in cdrs) == [2000, 5000]
    assert {c["transaction_id"] for c in cdrs} == {"TX-1"}
    sessions = (await http.get("/sessions", params={"station_id": station_id})).json()
    assert len(sessions) == 2 and len({s["workflow_id"] for s in sessions}) == 2


async def test_a_stop_for_a_closed_session_goes_to_reconciliation(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    """The session's workflow was closed (here terminated by an operator) before the
    charger's stop arrived: the stop is kept for an operator, never silently dropped."""
    station_id = unique("CLOSED")
    station = await booted_station(
        stack, station_id, "ocpp1.6", site_id="closed-site", tokens={TOKEN: "accepted"}
    )
    try:
        started = await station.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": TOKEN, "meterStart": 0, "timestamp": _at(0)},
        )
        tx = str(started["transactionId"])
        handle = _client(stack).get_workflow_handle(session_workflow_id(station_id, tx))

        async def running() -> bool:
            try:
                return (await handle.describe()).status is not None
            except RPCError:
                return False

        await eventually(running)
        await handle.terminate("operator closed it by hand")
        await station.call(
            "StopTransaction", {"transactionId": int(tx), "meterStop": 900, "timestamp": _at(60)}
        )
    finally:
        await station.close()

    async def kept() -> list[Any] | None:
        async with stack.db.sessions() as session:
            items = await reconciliation.list_items(session, station_id=station_id)
        return [i for i in items if i.kind == "EventForClosedSession"] or None

    (item,) = await eventually(kept)
    assert item.payload["stop"]["meter_stop_wh"] == 900


async def test_a_long_session_history_stays_a_handful_of_events(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    """200 meter updates over a session: none reaches the workflow (the API reads the
    live figures from the stored samples), so its history stays small."""
    station_id = unique("LONG")
    station = await booted_station(
        stack, station_id, "ocpp2.0.1", site_id="long-site", tokens={TOKEN: "accepted"}
    )
    tx = "TX-LONG"
    try:
        await station.call("TransactionEvent", _event("Started", tx, 0, "2030-04-01T00:00:00Z", 0))
        for seq in range(1, 201):
            at = f"2030-04-01T{seq // 60:02d}:{seq % 60:02d}:00Z"
            await station.call("TransactionEvent", _event("Updated", tx, seq, at, seq * 100.0))
        sessions = (await http.get("/sessions", params={"station_id": station_id})).json()
        live = (await http.get(f"/sessions/{sessions[0]['id']}")).json()["live"]
        assert live["energy_so_far_wh"] == 20_000 and live["power_w"] == 7400
        await station.call(
            "TransactionEvent",
            {
                **_event("Ended", tx, 201, "2030-04-01T04:00:00Z", 20_100),
                "triggerReason": "StopAuthorized",
            },
        )
    finally:
        await station.close()
    (cdr,) = await _cdrs(http, station_id, 1)
    assert cdr["energy_wh"] == 20_100
    history = (
        await _client(stack)
        .get_workflow_handle(session_workflow_id(station_id, tx))
        .fetch_history()
    )
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert "progress" not in signals
    assert len(history.events) < 30, len(history.events)


async def test_a_backlog_delivers_each_session_in_one_call_and_one_workflow_task(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    """Sessions that ended while the relay was behind (here: stopped, as during a
    Temporal outage): each session's start and stop go out as one signal-with-start
    and settle in one workflow task, a reused 2.x id's two sessions each on their own,
    with the right CDRs."""
    assert stack.gateway is not None
    relay = stack.gateway.services.relay
    await relay.stop()
    old_id, new_id = unique("BKLG16"), unique("BKLG2")
    old = await booted_station(stack, old_id, "ocpp1.6", site_id="bk", tokens={TOKEN: "accepted"})
    new = await booted_station(stack, new_id, "ocpp2.0.1", site_id="bk", tokens={TOKEN: "accepted"})
    try:
        for n in range(3):
            started = await old.call(
                "StartTransaction",
                {"connectorId": 1, "idTag": TOKEN, "meterStart": n * 1000, "timestamp": _at(n)},
            )
            await old.call(
                "StopTransaction",
                {
                    "transactionId": started["transactionId"],
                    "meterStop": n * 1000 + 500,
                    "timestamp": _at(n + 0.5),
                },
            )
        for day, (begin, end) in enumerate(((1000, 3000), (3000, 8000)), start=10):
            at, stop_at = f"2030-03-{day}T08:00:00Z", f"2030-03-{day}T09:00:00Z"
            await new.call("TransactionEvent", _event("Started", "TX-1", 0, at, begin))
            ended = {**_event("Ended", "TX-1", 1, stop_at, end), "triggerReason": "StopAuthorized"}
            await new.call("TransactionEvent", ended)
    finally:
        await old.close()
        await new.close()
    calls_before = relay.calls
    relay.start()
    assert sorted(c["energy_wh"] for c in await _cdrs(http, old_id, 3)) == [500, 500, 500]
    assert sorted(c["energy_wh"] for c in await _cdrs(http, new_id, 2)) == [2000, 5000]
    assert relay.calls - calls_before == 5
    sessions = (await http.get("/sessions", params={"station_id": old_id})).json()
    sessions += (await http.get("/sessions", params={"station_id": new_id})).json()
    assert len(sessions) == 5
    for s in sessions:
        history = await _client(stack).get_workflow_handle(s["workflow_id"]).fetch_history()
        kinds = [e.event_type for e in history.events]
        assert kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1, s["workflow_id"]
        assert EventType.EVENT_TYPE_TIMER_STARTED not in kinds
