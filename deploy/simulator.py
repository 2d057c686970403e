"""Simulated chargers (the ``ocpp`` library's client side over real WebSockets), OCPP 1.6,
2.0.1 or 2.1; and a 1.6 charger whose car follows the charging profiles it is sent
(:class:`ObedientCharger`, for demand-response tests and benchmarks).

``csms simulate`` registers a site, its stations and their RFID tags through the
API, then every charger boots and runs charging sessions in a loop: plug in,
Authorize, StartTransaction, MeterValues while charging, StopTransaction.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from websockets.typing import Subprotocol

from deploy.simulated_firmware import FirmwareInstaller, FirmwarePlan, FirmwareState

log = logging.getLogger(__name__)


def ocpp_now() -> str:
    """Current UTC time as an OCPP timestamp."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class SimulationStats:
    """Counters shared by every simulated charger, with round-trip samples."""

    connected: int = 0
    sessions_started: int = 0
    sessions_completed: int = 0
    errors: int = 0
    rtt_ms: dict[str, list[float]] = field(default_factory=dict)

    def record(self, action: str, seconds: float) -> None:
        """Keep one round-trip time."""
        self.rtt_ms.setdefault(action, []).append(seconds * 1000)


@dataclass(frozen=True)
class SessionPlan:
    """Shape of each simulated session."""

    meter_samples: int = 4
    meter_interval_s: float = 5.0
    power_w: float = 11_000.0
    # Energy added between samples: 5 minutes at 11 kW, so short demo sessions
    # still show realistic kWh.
    sample_energy_wh: int = 917
    pause_s: float = 5.0


class SimulatedCharger(ChargePoint):
    """One OCPP 1.6 charge point with a single connector and an energy register."""

    def __init__(
        self,
        station_id: str,
        websocket: Any,
        stats: SimulationStats,
        *,
        validate: bool = True,
        firmware: FirmwareInstaller | None = None,
    ) -> None:
        super().__init__(station_id, websocket, response_timeout=30)
        self.stats = stats
        self.register_wh = 0
        # Load generators skip the client-side schema check to spend their CPU on load.
        self.validate = validate
        self.firmware = firmware or FirmwareInstaller(
            station_id, FirmwareState("1.0.0"), FirmwarePlan()
        )

    @on("UpdateFirmware")
    def on_update_firmware(self, location: str, **_: Any) -> call_result.UpdateFirmware:
        """Take the update (1.6 answers nothing more) and run it in the background."""
        self.firmware.begin("1.6", location, None, self._firmware_status)
        return call_result.UpdateFirmware()

    @on("SignedUpdateFirmware")
    def on_signed_update_firmware(
        self, request_id: int, firmware: dict[str, Any], **_: Any
    ) -> call_result.SignedUpdateFirmware:
        """The security extension's signed update: verified before it installs."""
        began = self.firmware.begin(
            "1.6-signed",
            firmware["location"],
            request_id,
            self._signed_firmware_status,
            firmware.get("signature"),
            firmware.get("signing_certificate"),
        )
        return call_result.SignedUpdateFirmware(status="Accepted" if began else "Rejected")

    async def _firmware_status(self, status: str, request_id: int | None) -> None:
        await self.timed(call.FirmwareStatusNotification(status=status))

    async def _signed_firmware_status(self, status: str, request_id: int | None) -> None:
        await self.timed(
            call.SignedFirmwareStatusNotification(status=status, request_id=request_id or 0)
        )

    async def report_after_boot(self) -> None:
        """Statuses due after a reboot (an update's Installed)."""
        pending, self.firmware.state.after_boot = self.firmware.state.after_boot, []
        for status, request_id in pending:
            if request_id is None:
                await self._firmware_status(status, None)
            else:
                await self._signed_firmware_status(status, request_id)

    async def timed(self, payload: Any) -> Any:
        """Send a CALL and record its round trip."""
        began = time.perf_counter()
        result = await self.call(payload, suppress=False, skip_schema_validation=not self.validate)
        self.stats.record(type(payload).__name__, time.perf_counter() - began)
        return result

    async def boot(self) -> Any:
        """BootNotification and the connector's first StatusNotification."""
        result = await self.timed(
            call.BootNotification(
                charge_point_vendor="CSMS-Sim",
                charge_point_model="Sim-11kW",
                charge_point_serial_number=self.id,
                firmware_version=self.firmware.state.version,
            )
        )
        await self.status("Available")
        await self.report_after_boot()
        return result

    async def status(self, status: str) -> None:
        """StatusNotification for connector 1."""
        await self.timed(
            call.StatusNotification(
                connector_id=1, error_code="NoError", status=status, timestamp=ocpp_now()
            )
        )

    async def start_transaction(self, id_tag: str) -> int:
        """Authorize and StartTransaction on connector 1; returns the transaction id."""
        await self.timed(call.Authorize(id_tag=id_tag))
        started = await self.timed(
            call.StartTransaction(
                connector_id=1, id_tag=id_tag, meter_start=self.register_wh, timestamp=ocpp_now()
            )
        )
        self.stats.sessions_started += 1
        return int(started.transaction_id)

    async def send_meter(self, tx_id: int, register_wh: int, power_w: float = 11_000.0) -> None:
        """One MeterValues with the energy register and the active power."""
        self.register_wh = register_wh
        await self.timed(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx_id,
                meter_value=[
                    {
                        "timestamp": ocpp_now(),
                        "sampledValue": [
                            {
                                "value": str(register_wh),
                                "unit": "Wh",
                                "measurand": "Energy.Active.Import.Register",
                            },
                            {
                                "value": str(power_w),
                                "unit": "W",
                                "measurand": "Power.Active.Import",
                            },
                        ],
                    }
                ],
            )
        )

    async def stop_transaction(
        self, tx_id: int, register_wh: int, id_tag: str | None = None
    ) -> None:
        """StopTransaction with the final register."""
        self.register_wh = register_wh
        await self.timed(
            call.StopTransaction(
                transaction_id=tx_id,
                meter_stop=register_wh,
                timestamp=ocpp_now(),
                id_tag=id_tag,
                reason="EVDisconnected",
            )
        )

    async def charge(self, id_tag: str, plan: SessionPlan) -> int:
        """One complete session with status changes; returns the transaction id."""
        await self.status("Preparing")
        tx_id = await self.start_transaction(id_tag)
        await self.status("Charging")
        for _ in range(plan.meter_samples):
            if plan.meter_interval_s:
                await asyncio.sleep(plan.meter_interval_s)
            await self.send_meter(tx_id, self.register_wh + plan.sample_energy_wh, plan.power_w)
        await self.stop_transaction(tx_id, self.register_wh, id_tag)
        await self.status("Finishing")
        await self.status("Available")
        self.stats.sessions_completed += 1
        return tx_id


class SimulatedCharger2:
    """An OCPP 2.0.1 or 2.1 charging station with one EVSE (the ``ocpp`` library's client)."""

    def __init__(
        self,
        version: str,
        station_id: str,
        websocket: Any,
        stats: SimulationStats,
        firmware: FirmwareInstaller | None = None,
    ) -> None:
        module = importlib.import_module(f"ocpp.v{version.replace('.', '')}")
        self._call = module.call
        self._result = module.call_result
        self.cp = module.ChargePoint(station_id, websocket, response_timeout=30)
        self.id = station_id
        self.stats = stats
        self.register_wh = 0
        self.firmware = firmware or FirmwareInstaller(
            station_id, FirmwareState("2.0.0"), FirmwarePlan()
        )
        # The library routes CALLs by its route map; a composed charge point adds its own.
        for action, handler in (
            ("UpdateFirmware", self.on_update_firmware),
            ("PublishFirmware", self.on_publish_firmware),
            ("UnpublishFirmware", self.on_unpublish_firmware),
        ):
            self.cp.route_map[action] = {"_on_action": handler, "_skip_schema_validation": False}

    def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any) -> Any:
        """Take the update and run it in the background."""
        began = self.firmware.begin(
            "2.x",
            firmware["location"],
            request_id,
            self._firmware_status,
            firmware.get("signature"),
            firmware.get("signing_certificate"),
        )
        return self._result.UpdateFirmware(status="Accepted" if began else "Rejected")

    def on_publish_firmware(self, location: str, request_id: int, **_: Any) -> Any:
        """A local controller: fetch the image and serve it (here: report it published)."""

        async def publish() -> None:
            for status in ("Downloading", "Downloaded", "ChecksumVerified"):
                await asyncio.sleep(self.firmware.plan.step_s)
                await self.timed(
                    self._call.PublishFirmwareStatusNotification(
                        status=status, request_id=request_id
                    )
                )
            await self.timed(
                self._call.PublishFirmwareStatusNotification(
                    status="Published", location=[location], request_id=request_id
                )
            )

        self._publishing = asyncio.create_task(publish())
        return self._result.PublishFirmware(status="Accepted")

    def on_unpublish_firmware(self, checksum: str, **_: Any) -> Any:
        """Stop serving an image."""
        return self._result.UnpublishFirmware(status="Unpublished")

    async def _firmware_status(self, status: str, request_id: int | None) -> None:
        await self.timed(
            self._call.FirmwareStatusNotification(status=status, request_id=request_id)
        )

    async def report_after_boot(self) -> None:
        """Statuses due after a reboot (an update's Installed)."""
        pending, self.firmware.state.after_boot = self.firmware.state.after_boot, []
        for status, request_id in pending:
            await self._firmware_status(status, request_id)

    async def start(self) -> None:
        """Read the socket (answers to our calls arrive here)."""
        await self.cp.start()

    async def timed(self, payload: Any) -> Any:
        """Send a CALL and record its round trip."""
        began = time.perf_counter()
        result = await self.cp.call(payload, suppress=False)
        self.stats.record(type(payload).__name__, time.perf_counter() - began)
        return result

    async def boot(self) -> Any:
        """BootNotification and the connector's first StatusNotification."""
        result = await self.timed(
            self._call.BootNotification(
                charging_station={
                    "model": "Sim-22kW",
                    "vendor_name": "CSMS-Sim",
                    "serial_number": self.id[:25],
                    "firmware_version": self.firmware.state.version,
                },
                reason="FirmwareUpdate" if self.firmware.state.after_boot else "PowerUp",
            )
        )
        await self.status("Available")
        await self.report_after_boot()
        return result

    async def status(self, status: str) -> None:
        """StatusNotification for EVSE 1, connector 1."""
        await self.timed(
            self._call.StatusNotification(
                timestamp=ocpp_now(), connector_status=status, evse_id=1, connector_id=1
            )
        )

    async def transaction_event(
        self, kind: str, tx: str, seq: int, trigger: str, context: str, **extra: Any
    ) -> Any:
        """A TransactionEvent carrying the energy register."""
        return await self.timed(
            self._call.TransactionEvent(
                event_type=kind,
                timestamp=ocpp_now(),
                trigger_reason=trigger,
                seq_no=seq,
                evse={"id": 1, "connector_id": 1},
                meter_value=[
                    {
                        "timestamp": ocpp_now(),
                        "sampled_value": [
                            {
                                "value": self.register_wh,
                                "context": context,
                                "measurand": "Energy.Active.Import.Register",
                            }
                        ],
                    }
                ],
                **extra,
            )
        )

    async def charge(self, id_tag: str, plan: SessionPlan) -> str:
        """One complete session; returns the charger's transaction id."""
        tx = f"{self.id}-{uuid.uuid4().hex[:12]}"
        token = {"id_token": id_tag, "type": "ISO14443"}
        await self.status("Occupied")
        await self.transaction_event(
            "Started",
            tx,
            0,
            "Authorized",
            "Transaction.Begin",
            transaction_info={"transaction_id": tx},
            id_token=token,
        )
        self.stats.sessions_started += 1
        for seq in range(1, plan.meter_samples + 1):
            if plan.meter_interval_s:
                await asyncio.sleep(plan.meter_interval_s)
            self.register_wh += plan.sample_energy_wh
            await self.transaction_event(
                "Updated",
                tx,
                seq,
                "MeterValuePeriodic",
                "Sample.Periodic",
                transaction_info={"transaction_id": tx, "charging_state": "Charging"},
            )
        await self.transaction_event(
            "Ended",
            tx,
            plan.meter_samples + 1,
            "EVCommunicationLost",
            "Transaction.End",
            transaction_info={"transaction_id": tx, "stopped_reason": "EVDisconnected"},
        )
        await self.status("Available")
        self.stats.sessions_completed += 1
        return tx


def make_charger(
    version: str,
    station_id: str,
    websocket: Any,
    stats: SimulationStats,
    firmware: FirmwareInstaller | None = None,
) -> SimulatedCharger | SimulatedCharger2:
    """A simulated charger speaking ``version`` (1.6, 2.0.1 or 2.1)."""
    if version == "1.6":
        return SimulatedCharger(station_id, websocket, stats, firmware=firmware)
    return SimulatedCharger2(version, station_id, websocket, stats, firmware)


def station_ids(count: int, prefix: str = "SIM") -> list[str]:
    """Identities of the simulated stations."""
    return [f"{prefix}-{i:04d}" for i in range(1, count + 1)]


def id_tag_for(station_id: str) -> str:
    """The RFID tag the simulated driver at ``station_id`` presents."""
    return f"TAG-{station_id}"[:20]


async def provision(
    api_url: str, api_key: str, stations: list[str], site_id: str = "sim-depot"
) -> None:
    """Create the site, stations and tags through the API (existing ones are kept)."""
    headers = {"X-API-Key": api_key}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as http:
        response = await http.post(
            "/sites",
            json={
                "id": site_id,
                "name": "Simulated depot",
                "price_per_kwh": "0.30",
                "currency": "EUR",
            },
        )
        if response.status_code not in (201, 409):
            response.raise_for_status()
        for station_id in stations:
            for path, body in (
                # Simulated chargers send no credentials: a development setup only.
                ("/stations", {"id": station_id, "site_id": site_id, "security_profile": 0}),
                ("/id-tokens", {"id_token": id_tag_for(station_id)}),
            ):
                response = await http.post(path, json=body)
                if response.status_code not in (201, 409):
                    raise RuntimeError(f"POST {path}: {response.status_code} {response.text}")


async def run_charger(
    gateway_url: str,
    station_id: str,
    plan: SessionPlan,
    stats: SimulationStats,
    sessions: int,
    stop: asyncio.Event,
    version: str = "1.6",
    *,
    firmware: FirmwarePlan | None = None,
    firmware_version: str | None = None,
    charge: bool = True,
) -> None:
    """Connect, boot, and run ``sessions`` sessions (0: until ``stop``), reconnecting on
    loss; a firmware update reboots it (it reconnects and boots on the new version).
    ``charge=False``: it only stays connected (a fleet waiting for updates)."""
    state = FirmwareState(firmware_version or ("1.0.0" if version == "1.6" else "2.0.0"))
    installer = FirmwareInstaller(station_id, state, firmware or FirmwarePlan())
    done = 0
    while not stop.is_set() and (not charge or sessions == 0 or done < sessions):
        if state.version == "bricked":
            await stop.wait()  # never comes back
            return
        try:
            async with websockets.connect(
                f"{gateway_url.rstrip('/')}/{station_id}",
                subprotocols=[Subprotocol(f"ocpp{version}")],
                open_timeout=30,
            ) as ws:
                charger = make_charger(version, station_id, ws, stats, installer)
                reader = asyncio.create_task(charger.start())
                stats.connected += 1
                try:
                    await charger.boot()
                    while not stop.is_set() and not state.reboot.is_set():
                        if charge and not state.updating and (sessions == 0 or done < sessions):
                            await charger.charge(id_tag_for(station_id), plan)
                            done += 1
                        elif charge and not state.updating:
                            break
                        waits = [asyncio.ensure_future(e.wait()) for e in (stop, state.reboot)]
                        await asyncio.wait(
                            waits,
                            timeout=plan.pause_s if charge else None,
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                        for waiting in waits:
                            waiting.cancel()
                finally:
                    stats.connected -= 1
                    reader.cancel()
        except Exception as exc:  # keep simulating: a demo charger retries like a real one
            stats.errors += 1
            log.warning("%s: %s; reconnecting", station_id, exc)
            await asyncio.sleep(2)
            continue
        if state.reboot.is_set():
            # Rebooting into the new firmware: offline for a moment, then a new boot.
            state.reboot.clear()
            await asyncio.sleep(installer.plan.reboot_s)


MAX_KW = 11.0
VOLTS = 230.0


class ObedientCharger(SimulatedCharger):
    """A 1.6 charger whose car takes what its latest TxProfile allows (at most 11 kW),
    and which remembers when each profile came."""

    def __init__(self, station_id: str, websocket: Any, stats: SimulationStats) -> None:
        super().__init__(station_id, websocket, stats, validate=False)
        self.profiles: list[tuple[float, dict[str, Any]]] = []

    @on("SetChargingProfile", skip_schema_validation=True)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> call_result.SetChargingProfile:
        if cs_charging_profiles.get("charging_profile_purpose") == "TxProfile":
            self.profiles.append((time.perf_counter(), cs_charging_profiles))
        return call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile", skip_schema_validation=True)
    def on_clear_charging_profile(self, **_: Any) -> call_result.ClearChargingProfile:
        return call_result.ClearChargingProfile(status="Accepted")

    def limit_kw(self, at: datetime) -> float:
        """What the latest TxProfile allows at ``at`` (11 kW without one)."""
        if not self.profiles:
            return MAX_KW
        received, latest = self.profiles[-1]
        schedule = latest["charging_schedule"]
        begins = (
            datetime.fromisoformat(schedule["start_schedule"].replace("Z", "+00:00"))
            if schedule.get("start_schedule")
            else datetime.now(UTC) - timedelta(seconds=time.perf_counter() - received)
        )
        elapsed = (at - begins).total_seconds()
        limit = MAX_KW
        for period in schedule["charging_schedule_period"]:
            if period["start_period"] <= elapsed:
                value = float(period["limit"])
                phases = period.get("number_phases", 3)
                limit = (
                    value / 1000
                    if schedule["charging_rate_unit"] == "W"
                    else value * VOLTS * phases / 1000
                )
        return min(MAX_KW, limit)

    async def follow(self, tx_id: int, meter_every_s: float) -> None:
        """Until cancelled: the car draws what the profile allows, followed every
        0.1 s (a charger's control loop), the register sent every ``meter_every_s``."""
        register, last, sent = float(self.register_wh), datetime.now(UTC), time.monotonic()
        while True:
            await asyncio.sleep(0.1)
            now = datetime.now(UTC)
            kw = self.limit_kw(last)
            register += kw * 1000 * (now - last).total_seconds() / 3600
            last = now
            if time.monotonic() - sent >= meter_every_s:
                sent = time.monotonic()
                await self.send_meter(tx_id, int(register), kw * 1000)
