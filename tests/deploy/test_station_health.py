"""Station health end to end: real WebSocket stations, the real stack on a Temporal dev
server, a real webhook receiver and a real SMTP server (aiosmtpd) as alert targets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from temporalio.testing import WorkflowEnvironment
from websockets.asyncio.client import connect

from activities.webhooks import SIGNATURE_HEADER, verify_signature
from deploy.stack import Stack
from tests.conftest import unique
from tests.deploy.conftest import api_client, eventually, stack_settings
from tests.deploy.live_stations import booted_station, endpoint
from tests.helpers import WebhookReceiver, free_port, seed_station


class Sink:
    """An SMTP server keeping every message it is sent."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@pytest.fixture(scope="module")
async def stack(
    temporal_dev: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
    smtp: tuple[Sink, int],
) -> AsyncIterator[Stack]:
    """A node whose pings, silence and offline judgement take about a second."""
    settings = stack_settings(
        temporal_dev,
        Path(tmp_path_factory.mktemp("health")),
        ping_interval_s=0.5,
        ping_timeout_s=0.5,
        silent_after_s=3.0,
        offline_after_s=1.0,
        offline_incident_after_s=2.0,
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        smtp_sender="csms@depot.test",
    )
    running = Stack(settings)
    await running.start(temporal_dev.client)
    yield running
    await running.stop()


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(stack) as client:
        yield client


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def test_a_half_open_connection_is_detected_and_judged_offline(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    station = unique("HALF")
    await seed_station(stack.db, station)
    url = f"{endpoint(stack)}/{station}"
    async with connect(url, subprotocols=["ocpp1.6"], ping_interval=None) as ws:  # type: ignore[list-item]
        boot = {"chargePointVendor": "Acme", "chargePointModel": "AC-22"}
        await ws.send(json.dumps([2, "b1", "BootNotification", boot]))
        assert json.loads(await ws.recv())[2]["status"] == "Accepted"
        # The station hangs: the socket stays open, nothing is read, no pong goes back.
        ws.transport.pause_reading()
        began = asyncio.get_running_loop().time()

        async def offline() -> list[dict[str, Any]] | None:
            changes = (await http.get(f"/stations/{station}/liveness")).json()
            return changes if changes and changes[-1]["state"] == "offline" else None

        changes = await eventually(offline, timeout=15)
        detected_s = asyncio.get_running_loop().time() - began
        assert [c["state"] for c in changes] == ["connected", "online", "offline"]
        assert changes[-1]["cause"] == "half-open: pings not answered"
        # Within ping interval + timeout, and the close handshake it cannot answer.
        assert detected_s < 5, detected_s

        async def judged() -> dict[str, Any] | None:
            health = (await http.get(f"/stations/{station}/health")).json()
            return health if health["health"] == "offline" else None

        health = await eventually(judged, timeout=15)
        assert health["liveness"] == "offline" and health["live"]["health"] == "offline"

        async def incident() -> list[dict[str, Any]] | None:
            return (await http.get("/incidents", params={"station_id": station})).json() or None

        (opened,) = await eventually(incident, timeout=15)
        assert opened["title"] == "Station offline" and opened["state"] == "open"


async def test_status_periods_give_the_uptime(stack: Stack, http: httpx.AsyncClient) -> None:
    station_id = unique("UP")
    station = await booted_station(stack, station_id, "ocpp1.6")
    start = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
    try:
        for minutes, status, code in (
            (0, "Available", "NoError"),
            (30, "Faulted", "GroundFailure"),
            (40, "Available", "NoError"),
            (50, "Unavailable", "NoError"),
            (55, "Available", "NoError"),
        ):
            await station.call(
                "StatusNotification",
                {
                    "connectorId": 1,
                    "status": status,
                    "errorCode": code,
                    "timestamp": iso(start + timedelta(minutes=minutes)),
                },
            )
        answer = await http.get(
            f"/stations/{station_id}/availability",
            params={"since": iso(start), "until": iso(start + timedelta(hours=1))},
        )
        assert answer.status_code == 200, answer.text
        (connector,) = answer.json()["connectors"]
        assert connector["seconds_by_status"] == {
            "Available": 2700.0,
            "Faulted": 600.0,
            "Unavailable": 300.0,
        }
        assert connector["availability"] == pytest.approx(45 / 60)
        assert connector["uptime"] == pytest.approx(50 / 60)
        assert [p["status"] for p in connector["periods"]] == [
            "Available",
            "Faulted",
            "Available",
            "Unavailable",
            "Available",
        ]
        bad = await http.get(
            f"/stations/{station_id}/availability",
            params={"since": iso(start), "until": iso(start - timedelta(hours=1))},
        )
        assert bad.status_code == 422 and "before" in bad.text
    finally:
        await station.close()


async def test_an_unfixable_fault_alerts_by_webhook_and_email_with_its_evidence(
    stack: Stack, http: httpx.AsyncClient, smtp: tuple[Sink, int]
) -> None:
    sink, _ = smtp
    site = unique("site")
    station_id = unique("ALERT")
    with WebhookReceiver() as receiver:
        hook = await http.post(
            "/alert-rules",
            json={
                "name": "field team hook",
                "channel": "webhook",
                "target": receiver.url + "/incidents",
                "min_severity": "warning",
                "site_id": site,
            },
        )
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]
        mail = await http.post(
            "/alert-rules",
            json={
                "name": "field team mail",
                "channel": "email",
                "target": "field@depot.test",
                "min_severity": "major",
                "site_id": site,
            },
        )
        assert mail.status_code == 201 and mail.json()["secret"] is None
        listed = (await http.get("/alert-rules")).json()
        assert all("secret" not in r for r in listed)
        station = await booted_station(stack, station_id, "ocpp1.6", site_id=site)
        try:
            # A broken latch (ChargeX CX025): no remote cure, a visit at once.
            await station.call(
                "StatusNotification",
                {
                    "connectorId": 1,
                    "status": "Faulted",
                    "errorCode": "OtherError",
                    "vendorErrorCode": "CX025",
                    "vendorId": "https://chargex.inl.gov",
                    "timestamp": iso(datetime.now(UTC)),
                },
            )
            (call,) = await receiver.wait_for(1, timeout_s=30)
            body = json.loads(call.body)
            assert verify_signature(secret, call.headers[SIGNATURE_HEADER], call.body)
            incident = body["incident"]
            assert body["event"] == "opened" and incident["station_id"] == station_id
            assert incident["title"] == "Broken connector latch"
            assert incident["code"] == "OtherError" and incident["severity"] == "major"
            assert "recent_messages" not in incident["evidence"], "tokens stay behind the API"
            assert incident["evidence"]["connectors"][0]["vendor_error_code"] == "CX025"

            async def mailed() -> list[Message] | None:
                found = [m for m in sink.messages if station_id in str(m["Subject"])]
                return found or None

            (message,) = await eventually(mailed, timeout=30)
            assert message["To"] == "field@depot.test"
            assert "Broken connector latch" in str(message["Subject"])
            detail = (await http.get(f"/incidents/{incident['id']}")).json()
            evidence = detail["evidence"]
            assert any(m["action"] == "StatusNotification" for m in evidence["recent_messages"])
            assert any(c["vendor_error_code"] == "CX025" for c in evidence["connectors"])
            assert {a["status"] for a in detail["alerts"]} == {"delivered"}
            acked = await http.post(
                f"/incidents/{incident['id']}/acknowledge",
                json={"note": "technician booked", "actor": "dispatch"},
            )
            assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
            assert acked.json()["timeline"][-1]["text"] == "technician booked"
            listed = await http.get("/incidents", params={"state": "acknowledged"})
            assert incident["id"] in [i["id"] for i in listed.json()]
            health = (await http.get(f"/stations/{station_id}/health")).json()
            assert health["health"] == "faulted" and health["live"]["faults"][0]["code"]
            # Repaired: the station reports Available; the incident resolves and both
            # targets hear of it.
            await station.call(
                "StatusNotification",
                {
                    "connectorId": 1,
                    "status": "Available",
                    "errorCode": "NoError",
                    "timestamp": iso(datetime.now(UTC)),
                },
            )
            calls = await receiver.wait_for(2, timeout_s=30)
            assert json.loads(calls[1].body)["event"] == "resolved"

            async def resolved_mail() -> list[Message] | None:
                found = [m for m in sink.messages if station_id in str(m["Subject"])]
                return found if len(found) == 2 else None

            await eventually(resolved_mail, timeout=30)
            state = (await http.get(f"/incidents/{incident['id']}")).json()["state"]
            assert state == "resolved"
        finally:
            await station.close()


async def test_incident_and_rule_requests_are_checked(http: httpx.AsyncClient) -> None:
    bad_rules = [
        {"name": "x", "channel": "webhook", "target": "ftp://nowhere"},
        {"name": "x", "channel": "email", "target": "not an address"},
        {"name": "x", "channel": "sms", "target": "+4912345"},
    ]
    for body in bad_rules:
        answer = await http.post("/alert-rules", json=body)
        assert answer.status_code == 422, (body, answer.text)
    assert (await http.get("/incidents/nope")).status_code == 404
    assert (await http.post("/incidents/nope/resolve", json={})).status_code == 404
    fault = {"name": "r", "fault_class": "hardware", "severity": "major", "playbook": "nope"}
    answer = await http.post("/fault-rules", json={**fault, "error_code": "X"})
    assert answer.status_code == 422 and "unknown playbook" in answer.text
    answer = await http.post("/fault-rules", json={**fault, "playbook": "hardware"})
    assert answer.status_code == 422 and "match something" in answer.text
    ok = await http.post("/fault-rules", json={**fault, "playbook": "escalate", "model": "Z"})
    assert ok.status_code == 201
    table = (await http.get("/fault-rules")).json()
    assert table[0]["id"] == ok.json()["id"] and any(r["name"] == "chargex:CX025" for r in table)
    assert (await http.delete(f"/fault-rules/{ok.json()['id']}")).status_code == 204
    viewer = httpx.AsyncClient(base_url=str(http.base_url), headers={"X-API-Key": "wrong"})
    async with viewer:
        assert (await viewer.get("/incidents")).status_code == 401
