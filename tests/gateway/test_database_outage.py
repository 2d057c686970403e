"""A database outage under live chargers that give up after a few attempts: their
MeterValues and transaction events are acknowledged from the node's spool, and land
in the database, in order, once it is back (PostgreSQL behind a TCP proxy we cut)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from activities.persistence.database import Database
from activities.persistence.migrate import upgrade_async
from activities.persistence.models import MeterSample, OutboxEvent, Transaction
from gateway.server import Gateway
from tests.conftest import unique
from tests.gateway.conftest import RawCharger, connect, gateway_config
from tests.helpers import free_port, seed_station

NOW = "2026-11-21T10:00:00Z"


class CuttableProxy:
    """A TCP proxy to PostgreSQL that can drop every connection and refuse new ones."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self._target = target_port
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._pipes):
            writer.transport.abort()
        self._pipes.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._pipes |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


@pytest.fixture
async def proxied(backend_urls: dict[str, str], tmp_path: Path) -> AsyncIterator[tuple[Any, ...]]:
    if "postgresql" not in backend_urls:
        pytest.skip("needs CSMS_TEST_DATABASE_URL (PostgreSQL behind a proxy we can cut)")
    real = make_url(backend_urls["postgresql"])
    await upgrade_async(backend_urls["postgresql"])
    proxy = CuttableProxy(real.port or 5432)
    await proxy.open()
    url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    db = Database(url)
    node = Gateway(gateway_config(spool_path=str(tmp_path / "spool.db")), db)
    await node.start()
    yield proxy, db, node
    await node.stop()
    await db.dispose()


def _meter(wh: int) -> list[dict[str, Any]]:
    return [{"timestamp": NOW, "sampledValue": [{"value": str(wh)}]}]


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_a_30s_class_outage_loses_nothing(proxied: tuple[Any, ...], protocol: str) -> None:
    proxy, db, node = proxied
    ident = unique("OUT")
    await seed_station(db, ident, site_id="out-site", tokens={"TAG-O": "Accepted"})
    async with await connect(node, ident, protocol) as ws:
        charger = RawCharger(ws)
        if protocol == "ocpp1.6":
            await charger.ok(
                "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"}
            )
            started = await charger.ok(
                "StartTransaction",
                {"connectorId": 1, "idTag": "TAG-O", "meterStart": 1000, "timestamp": NOW},
            )
            tx = str(started["transactionId"])
        else:
            await charger.ok(
                "BootNotification",
                {"chargingStation": {"model": "B", "vendorName": "A"}, "reason": "PowerUp"},
            )
            tx = "TX-OUT"
            await charger.ok("TransactionEvent", _event("Started", tx, 0, 1000))
        await proxy.cut()  # the database is gone
        for i, wh in enumerate((2000, 3000, 4000), start=1):
            # Each message is sent once: a charger that gives up after 3 attempts would
            # have dropped it after three InternalErrors.
            if protocol == "ocpp1.6":
                reply = await charger.call(
                    "MeterValues",
                    {"connectorId": 1, "transactionId": int(tx), "meterValue": _meter(wh)},
                )
            else:
                reply = await charger.call("TransactionEvent", _event("Updated", tx, i, wh))
            assert reply[0] == 3, reply
        if protocol == "ocpp1.6":
            stop = {"transactionId": int(tx), "meterStop": 5000, "timestamp": NOW, "idTag": "TAG-O"}
            reply = await charger.call("StopTransaction", stop)
            assert reply[0] == 3 and reply[2]["idTagInfo"]["status"] == "Accepted", reply
        else:
            reply = await charger.call("TransactionEvent", _event("Ended", tx, 4, 5000))
            assert reply[0] == 3, reply
    spool = node.services.spool
    assert spool is not None and len(spool) == 4
    await proxy.open()  # the database is back: the spool drains in order

    async def drained() -> None:
        while len(spool):  # noqa: ASYNC110 (the drain runs on its own timer)
            await asyncio.sleep(0.1)

    await asyncio.wait_for(drained(), 20)
    async with db.sessions() as session:
        row = await session.scalar(select(Transaction).where(Transaction.station_id == ident))
        assert row is not None
        samples = (
            await session.scalars(select(MeterSample).where(MeterSample.transaction_pk == row.id))
        ).all()
        stops = (
            await session.scalars(
                select(OutboxEvent).where(
                    OutboxEvent.workflow_id == row.session_workflow,
                    OutboxEvent.kind == "session.stopped",
                )
            )
        ).all()
    assert (row.status, row.meter_stop_wh) == ("stopped", 5000)
    assert {s.value for s in samples} >= {2000.0, 3000.0, 4000.0}
    assert len(stops) == 1


def _event(kind: str, tx: str, seq: int, wh: int) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventType": kind,
        "timestamp": NOW,
        "triggerReason": "Authorized" if kind == "Started" else "MeterValuePeriodic",
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [
            {
                "timestamp": NOW,
                "sampledValue": [{"value": wh, "measurand": "Energy.Active.Import.Register"}],
            }
        ],
    }
    if kind == "Started":
        event["idToken"] = {"idToken": "TAG-O", "type": "ISO14443"}
    return event
