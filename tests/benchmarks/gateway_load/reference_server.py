"""The bare reference server: the ``ocpp`` library's documented central-system example.

BootNotification, Heartbeat and MeterValues handlers that do nothing else; no
database, no authentication. The gateway load benchmark runs the same load
against it to compare.

    python tests/benchmarks/gateway_load/reference_server.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as Cp
from ocpp.v16 import call_result
from ocpp.v16.enums import Action, RegistrationStatus
from websockets.typing import Subprotocol


class ChargePoint(Cp):
    """As in the library's README, plus the two messages of the load."""

    @on(Action.boot_notification)
    def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
    ) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=datetime.now(UTC).isoformat(),
            interval=10,
            status=RegistrationStatus.accepted,
        )

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=datetime.now(UTC).isoformat())

    @on(Action.meter_values)
    def on_meter_values(
        self, connector_id: int, meter_value: list[Any], **kwargs: Any
    ) -> call_result.MeterValues:
        return call_result.MeterValues()


async def on_connect(websocket: Any) -> None:
    charge_point_id = websocket.request.path.strip("/").rsplit("/", 1)[-1]
    await ChargePoint(charge_point_id, websocket).start()


async def main(port: int) -> None:
    async with websockets.serve(
        on_connect, "127.0.0.1", port, subprotocols=[Subprotocol("ocpp1.6")], backlog=2048
    ):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
