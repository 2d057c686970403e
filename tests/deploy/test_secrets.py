"""Secrets never reach the message log, a workflow history or a stored report, and a
password rotation whose answer is lost does not lock the station out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from activities.credentials import hash_password, verify_password
from activities.persistence.models import Station, StationMessage, StationVariable
from deploy.stack import Stack
from tests.conftest import unique
from tests.deploy.conftest import api_client, eventually
from tests.deploy.live_stations import endpoint
from tests.gateway.conformance.station import StrictStation
from tests.helpers import seed_station

VERSIONS = ["ocpp1.6", "ocpp2.0.1"]
OLD = "the-old-password-16+"


@pytest.fixture
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(stack) as client:
        yield client


def _sent_password(protocol: str, sent: dict[str, object]) -> str:
    if protocol == "ocpp1.6":
        # The AuthorizationKey is written as hex; the station presents the bytes.
        return bytes.fromhex(str(sent["value"])).decode()
    data = sent["setVariableData"]
    assert isinstance(data, list)
    return str(data[0]["attributeValue"])


async def _station_row(stack: Stack, station_id: str) -> Station:
    async with stack.db.sessions() as session:
        row = await session.get(Station, station_id)
    assert row is not None
    return row


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_a_rotated_password_is_in_no_log_and_survives_a_lost_answer(
    stack: Stack, http: httpx.AsyncClient, protocol: str
) -> None:
    station_id = unique("SECRET")
    await seed_station(stack.db, station_id, password_hash=hash_password(OLD))
    station = await StrictStation.connect(endpoint(stack), station_id, protocol, password=OLD)
    action = "ChangeConfiguration" if protocol == "ocpp1.6" else "SetVariables"
    await station.answer(action, {"$silent": True})  # the answer is lost
    try:
        lost = await http.post(
            f"/stations/{station_id}/commands/rotate-password", params={"timeout_s": 1}
        )
        assert lost.status_code == 504, lost.text
        password = _sent_password(protocol, await station.next_command(action))
    finally:
        await station.close()
    row = await _station_row(stack, station_id)
    assert row.pending_password_hash is not None and verify_password(
        password, row.pending_password_hash
    )
    # The station did take it: it comes back with the new password and is let in.
    again = await StrictStation.connect(endpoint(stack), station_id, protocol, password=password)
    await again.close()
    row = await _station_row(stack, station_id)
    assert row.pending_password_hash is None and verify_password(password, row.password_hash or "")
    with pytest.raises(ConnectionError):  # the old one no longer opens the door
        await StrictStation.connect(endpoint(stack), station_id, protocol, password=OLD)

    assert stack.gateway is not None
    await stack.gateway.message_log.flush()
    async with stack.db.sessions() as session:
        logged = (
            await session.scalars(
                select(StationMessage).where(StationMessage.station_id == station_id)
            )
        ).all()
    rotation = [m for m in logged if m.action == action]
    assert rotation and all(password not in repr(m.request) for m in rotation)
    assert "***" in repr(rotation[0].request)
    assert password not in (await http.get(f"/stations/{station_id}/messages")).text
    assert stack.worker is not None
    async for workflow in stack.worker.client.list_workflows(
        f"WorkflowType = 'StationCommand' AND CsmsStationId = '{station_id}'"
    ):
        history = await stack.worker.client.get_workflow_handle(workflow.id).fetch_history()
        assert password not in history.to_json()


@pytest.mark.parametrize("protocol", VERSIONS)
async def test_a_password_a_charger_reports_is_masked(
    stack: Stack, http: httpx.AsyncClient, protocol: str
) -> None:
    """A charger that answers GetConfiguration (or reports) with its password: masked in
    the answer, the stored configuration and the message log."""
    station_id = unique("LEAKY")
    await seed_station(stack.db, station_id)
    station = await StrictStation.connect(endpoint(stack), station_id, protocol)
    secret = "charger-says-its-password"
    try:
        if protocol == "ocpp1.6":
            await station.answer(
                "GetConfiguration",
                {
                    "configurationKey": [
                        {"key": "AuthorizationKey", "readonly": False, "value": secret}
                    ]
                },
            )
            reply = await http.post(
                f"/stations/{station_id}/commands/get-configuration",
                json={"keys": ["AuthorizationKey"]},
            )
        else:
            item = {
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
                "variableAttribute": [{"value": secret}],
            }
            await station.call(
                "NotifyReport",
                {
                    "requestId": 1,
                    "generatedAt": "2030-01-01T00:00:00Z",
                    "seqNo": 0,
                    "reportData": [item],
                },
            )
            reply = await http.get(f"/stations/{station_id}/events")
        assert reply.status_code == 200 and secret not in reply.text, reply.text
    finally:
        await station.close()
    assert stack.gateway is not None
    await stack.gateway.message_log.flush()
    async with stack.db.sessions() as session:
        stored = (
            await session.scalars(
                select(StationVariable).where(StationVariable.station_id == station_id)
            )
        ).all()
        logged = (
            await session.scalars(
                select(StationMessage).where(StationMessage.station_id == station_id)
            )
        ).all()

    async def masked() -> bool:
        return bool(stored) and all(v.value == "***" for v in stored)

    assert await eventually(masked)
    assert logged and all(secret not in repr((m.request, m.response)) for m in logged)


async def test_passwords_cannot_be_set_by_change_configuration(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    """It would travel through the workflow history: 422, use rotate-password."""
    for body in (
        {"key": "AuthorizationKey", "value": "x" * 20},
        {"key": "X", "key_2x": "SecurityCtrlr.BasicAuthPassword", "value": "x" * 20},
        # OCPP's keys are case-insensitive: a station takes this one as its password too.
        {"key": "authorizationKey", "value": "x" * 20},
        {"key": "X", "key_2x": "securityctrlr.basicauthpassword", "value": "x" * 20},
    ):
        reply = await http.post("/stations/ANY/commands/change-configuration", json=body)
        assert reply.status_code == 422 and "rotate-password" in reply.text, reply.text


async def test_a_second_rotation_after_a_lost_answer_does_not_lock_the_station_out(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    """Rotation 1's answer is lost (the station took P1); rotation 2 is refused. The
    station comes back with P1 and is let in (one pending slot used to forget P1)."""
    station_id = unique("ROT2")
    await seed_station(stack.db, station_id, password_hash=hash_password(OLD))
    station = await StrictStation.connect(endpoint(stack), station_id, "ocpp1.6", password=OLD)
    try:
        await station.answer("ChangeConfiguration", {"$silent": True})
        lost = await http.post(
            f"/stations/{station_id}/commands/rotate-password", params={"timeout_s": 1}
        )
        assert lost.status_code == 504
        first = _sent_password("ocpp1.6", await station.next_command("ChangeConfiguration"))
        await station.answer("ChangeConfiguration", {"status": "Rejected"})
        refused = await http.post(f"/stations/{station_id}/commands/rotate-password")
        assert refused.status_code == 200 and refused.json()["status"] == "Rejected"
        await station.next_command("ChangeConfiguration")
    finally:
        await station.close()
    again = await StrictStation.connect(endpoint(stack), station_id, "ocpp1.6", password=first)
    await again.close()
    row = await _station_row(stack, station_id)
    assert verify_password(first, row.password_hash or "") and row.pending_password_hash is None
