"""A real gateway node on a free port, over the test database.

Its Temporal address points at a closed port: these tests are about the
gateway alone, and lifecycle events must then wait, safe, in the outbox.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from activities.persistence.database import Database
from gateway.config import GatewayConfig
from gateway.server import Gateway


def gateway_config(**overrides: Any) -> GatewayConfig:
    """The gateway settings of these tests: unknown stations pending, Temporal unreachable."""
    settings: dict[str, Any] = {
        "node_id": "gw-test",
        "host": "127.0.0.1",
        "port": 0,
        "unknown_stations": "pending",
        "temporal_address": "127.0.0.1:1",
        "heartbeat_interval_s": 120,
        "max_frame_bytes": 16_384,
        "allow_unsecured_stations": True,
    }
    return GatewayConfig(**{**settings, **overrides})


@pytest.fixture
async def gateway(sqlite_db: Database) -> AsyncIterator[Gateway]:
    """A started gateway that admits unknown stations as pending."""
    node = Gateway(gateway_config(), sqlite_db)
    await node.start()
    yield node
    await node.stop()


@pytest.fixture
async def db_gateway(db: Database) -> AsyncIterator[Gateway]:
    """The same gateway over each database backend (for defects a backend shows)."""
    node = Gateway(gateway_config(node_id=f"gw-{uuid.uuid4().hex[:6]}"), db)
    await node.start()
    yield node
    await node.stop()


class RawCharger:
    """A WebSocket charger that sends exact frames and reads the replies."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        # CALLs the CSMS sent meanwhile (answered as a station would: see _answer).
        self.received: list[list[Any]] = []

    async def send_raw(self, frame: str) -> list[Any]:
        """Send one frame as-is and return the decoded reply (a CALL from the CSMS in
        between is kept in ``received`` and answered)."""
        await self.ws.send(frame)
        while True:
            reply = json.loads(await self.ws.recv())
            if not (isinstance(reply, list) and reply and reply[0] == 2):
                return reply
            self.received.append(reply)
            await self.ws.send(json.dumps(self._answer(reply)))

    @staticmethod
    def _answer(call: list[Any]) -> list[Any]:
        # Nothing queued (E14); anything else this charger does not implement.
        if call[2] == "GetTransactionStatus":
            return [3, call[1], {"messagesInQueue": False}]
        return [4, call[1], "NotImplemented", "", {}]

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        """Send a CALL and return the whole reply frame."""
        return await self.send_raw(json.dumps([2, str(next(self._ids)), action, payload]))

    async def ok(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL that must succeed; return its payload."""
        reply = await self.call(action, payload)
        assert reply[0] == 3, reply
        return reply[2]


def url(gateway: Gateway, station_id: str) -> str:
    """The gateway URL of ``station_id``."""
    return f"ws://127.0.0.1:{gateway.port}/ocpp/{station_id}"


async def connect(
    gateway: Gateway, station_id: str, *protocols: str, **kwargs: Any
) -> ClientConnection:
    """Open a socket for ``station_id`` offering ``protocols`` (default ocpp1.6)."""
    offered = [Subprotocol(p) for p in protocols or ("ocpp1.6",)]
    return await websockets.connect(url(gateway, station_id), subprotocols=offered, **kwargs)
