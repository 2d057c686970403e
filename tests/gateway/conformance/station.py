"""A live strict station (``station.mjs`` on ocpp-rpc) that pytest drives and inspects.

Unlike the scripted ``charger.mjs``, it stays connected: the test sends CALLs
when it wants, scripts the answers to the CSMS's commands (a payload, a
CALLERROR or silence) and reads every command the CSMS sent. Any frame from the
CSMS that breaks the official schemas of the negotiated version is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SCRIPT = HERE / "station.mjs"

HASH = {
    "hashAlgorithm": "SHA256",
    "issuerNameHash": "a1b2",
    "issuerKeyHash": "c3d4",
    "serialNumber": "1f",
}
"""The hash data of one installed certificate, as the stations report it."""

# What a well-behaved station answers, per version family, unless a test says otherwise.
ACCEPT_16: dict[str, Any] = {
    "RemoteStartTransaction": {"status": "Accepted"},
    "RemoteStopTransaction": {"status": "Accepted"},
    "Reset": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
    "ChangeAvailability": {"status": "Accepted"},
    "GetConfiguration": {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknownKey": [],
    },
    "ChangeConfiguration": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "SendLocalList": {"status": "Accepted"},
    "GetLocalListVersion": {"listVersion": 3},
    "ReserveNow": {"status": "Accepted"},
    "CancelReservation": {"status": "Accepted"},
    "GetDiagnostics": {"fileName": "diagnostics.zip"},
    "DataTransfer": {"status": "Accepted", "data": "pong"},
    "SetChargingProfile": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "GetCompositeSchedule": {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": "2026-12-03T10:00:00Z",
        "chargingSchedule": {
            "duration": 3600,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}],
        },
    },
    # The security extension.
    "ExtendedTriggerMessage": {"status": "Accepted"},
    "GetLog": {"status": "Accepted", "filename": "security.log"},
    "InstallCertificate": {"status": "Accepted"},
    "GetInstalledCertificateIds": {"status": "Accepted", "certificateHashData": [HASH]},
    "DeleteCertificate": {"status": "Accepted"},
    "CertificateSigned": {"status": "Accepted"},
}
ACCEPT_2: dict[str, Any] = {
    "RequestStartTransaction": {"status": "Accepted"},
    "RequestStopTransaction": {"status": "Accepted"},
    "Reset": {"status": "Accepted"},
    "UnlockConnector": {"status": "Unlocked"},
    "ChangeAvailability": {"status": "Accepted"},
    "GetVariables": {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "attributeValue": "300",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            }
        ]
    },
    "SetVariables": {
        "setVariableResult": [
            {
                "attributeStatus": "Accepted",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            }
        ]
    },
    "GetBaseReport": {"status": "Accepted"},
    "TriggerMessage": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "SendLocalList": {"status": "Accepted"},
    "GetLocalListVersion": {"versionNumber": 3},
    "ReserveNow": {"status": "Accepted"},
    "CancelReservation": {"status": "Accepted"},
    "GetLog": {"status": "Accepted", "filename": "log.zip"},
    "DataTransfer": {"status": "Accepted", "data": "pong"},
    "SetChargingProfile": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "GetChargingProfiles": {"status": "Accepted"},
    "GetCompositeSchedule": {
        "status": "Accepted",
        "schedule": {
            "evseId": 1,
            "duration": 3600,
            "scheduleStart": "2026-12-03T10:00:00Z",
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000.0}],
        },
    },
    "SetDisplayMessage": {"status": "Accepted"},
    "GetDisplayMessages": {"status": "Accepted"},
    "ClearDisplayMessage": {"status": "Accepted"},
    "SetVariableMonitoring": {
        "setMonitoringResult": [
            {
                "id": 7,
                "status": "Accepted",
                "type": "UpperThreshold",
                "severity": 5,
                "component": {"name": "EVSE"},
                "variable": {"name": "Power"},
            }
        ]
    },
    "ClearVariableMonitoring": {"clearMonitoringResult": [{"status": "Accepted", "id": 7}]},
    "SetMonitoringBase": {"status": "Accepted"},
    "SetMonitoringLevel": {"status": "Accepted"},
    "GetMonitoringReport": {"status": "Accepted"},
    "GetReport": {"status": "Accepted"},
    "CustomerInformation": {"status": "Accepted"},
    "SetNetworkProfile": {"status": "Accepted"},
    "GetTransactionStatus": {"ongoingIndicator": True, "messagesInQueue": False},
    "CostUpdated": {},
    "InstallCertificate": {"status": "Accepted"},
    "GetInstalledCertificateIds": {
        "status": "Accepted",
        "certificateHashDataChain": [
            {"certificateType": "CSMSRootCertificate", "certificateHashData": HASH}
        ],
    },
    "DeleteCertificate": {"status": "Accepted"},
    "CertificateSigned": {"status": "Accepted"},
}


def ensure_ocpp_rpc() -> None:
    """Install ocpp-rpc from the committed lockfile once."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError("Node.js and npm are needed for the strict OCPP clients")
    if not (HERE / "node_modules" / "ocpp-rpc" / "package.json").exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HERE,
            check=True,
            timeout=300,
        )


class StrictStation:
    """One connected ocpp-rpc station in a Node process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.protocol: str | None = None
        self.received: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self._results: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._arrived = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls,
        endpoint: str,
        identity: str,
        protocol: str,
        *,
        answers: dict[str, Any] | None = None,
        password: str | None = None,
    ) -> StrictStation:
        """Start the station and wait until its WebSocket is open."""
        ensure_ocpp_rpc()
        defaults = ACCEPT_16 if protocol == "ocpp1.6" else ACCEPT_2
        config = {
            "endpoint": endpoint,
            "identity": identity,
            "protocols": [protocol],
            "password": password,
            "answers": {**defaults, **(answers or {})},
        }
        process = await asyncio.create_subprocess_exec(
            "node",
            str(SCRIPT),
            json.dumps(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        station = cls(process)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        if not line:
            assert process.stderr is not None
            raise RuntimeError(f"station.mjs failed: {(await process.stderr.read()).decode()}")
        first = json.loads(line)
        if first["event"] != "open":
            await process.wait()
            raise ConnectionError(f"{identity} could not connect: {first}")
        station.protocol = first["protocol"]
        station._reader = asyncio.create_task(station._read())
        return station

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            event = json.loads(line)
            kind = event.pop("event")
            if kind == "received":
                async with self._arrived:
                    self.received.append(event)
                    self._arrived.notify_all()
            elif kind == "result":
                future = self._results.pop(event["id"])
                if not future.done():
                    future.set_result(event)
            elif kind == "failure":
                self.failures.append(event)
            elif kind == "closed":
                self.closed.set()
        self.closed.set()

    async def _send(self, op: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(op) + "\n").encode())
        await self.process.stdin.drain()

    async def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL to the CSMS; its response payload (a CALLERROR raises)."""
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._results[ident] = future
        await self._send({"op": "call", "id": ident, "action": action, "params": params})
        result = await asyncio.wait_for(future, 15)
        if not result["ok"]:
            raise AssertionError(f"{action} failed: {result}")
        return dict(result["response"])

    async def answer(self, action: str, response: Any = None) -> None:
        """Script the answer to the CSMS's next ``action`` commands (None: the usual one)."""
        if response is None:
            response = (ACCEPT_16 if self.protocol == "ocpp1.6" else ACCEPT_2)[action]
        await self._send({"op": "answers", "answers": {action: response}})

    async def next_command(self, action: str, timeout: float = 10.0) -> dict[str, Any]:
        """The params of the first not yet consumed ``action`` command from the CSMS."""
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: any(r["action"] == action for r in self.received)),
                timeout,
            )
            found = next(r for r in self.received if r["action"] == action)
            self.received.remove(found)
            return dict(found["params"])

    async def close(self) -> None:
        """Close the socket and end the process."""
        with contextlib.suppress(Exception):
            await self._send({"op": "close"})
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
