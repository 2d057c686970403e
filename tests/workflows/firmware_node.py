"""A gateway node whose chargers install firmware as scripted, for time-skipping tests
of firmware updates and rollouts.

Its ``station_command`` activity does what the gateway and a charger do together:
the charger's status notifications are stored on the update's row and signalled to
its workflow, a reboot stores the reported version on the station and signals the
boot, then the charger's answer to UpdateFirmware is returned. Everything happens
inside the activity, so the server's skipped clock cannot overtake it. With
``background=True`` (the benchmark, on a real clock) the node answers at once and
reports the statuses afterwards, as a real gateway and charger do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from activities.persistence.database import Database
from activities.persistence.models import FirmwareImage, FirmwareUpdateRow, Station
from activities.persistence.repositories import firmware, registry
from tests.conftest import unique
from tests.helpers import seed_station
from workflows.commands import CommandReply, CommandRequest, gateway_task_queue
from workflows.firmware import FirmwareImageRef

SCRIPTS: dict[str, tuple[str, list[str], str | None]] = {
    # behaviour: (answer to UpdateFirmware, statuses, version at the reboot)
    "ok": ("Accepted", ["Downloading", "Downloaded", "Installing", "InstallRebooting"], "new"),
    "ok16": ("Accepted", ["Downloading", "Downloaded", "Installing", "Installed"], "new"),
    "install_failed": (
        "Accepted",
        ["Downloading", "Downloaded", "Installing", "InstallationFailed"],
        None,
    ),
    "download_failed": ("Accepted", ["Downloading", "DownloadFailed"], None),
    "invalid_signature": ("Accepted", ["Downloading", "Downloaded", "InvalidSignature"], None),
    "never_back": (
        "Accepted",
        ["Downloading", "Downloaded", "Installing", "InstallRebooting"],
        None,
    ),
    "old_version": (
        "Accepted",
        ["Downloading", "Downloaded", "Installing", "InstallRebooting"],
        "old",
    ),
    "silent": ("Accepted", [], None),
    "rejected": ("Rejected", [], None),
}


@dataclass
class Sent:
    """An UpdateFirmware the node delivered: to whom and when (the server's clock)."""

    station_id: str
    at: datetime
    arguments: dict


class FirmwareNode:
    """One gateway node holding scripted chargers."""

    def __init__(
        self,
        db: Database,
        client: Client,
        version: str,
        *,
        background: bool = False,
        node_id: str | None = None,
    ) -> None:
        self.db = db
        self.background = background
        self.reports: set[asyncio.Task[None]] = set()
        self.client = client
        self.version = version
        # Images' versions by download location (a multi-vendor campaign's images);
        # any other location installs ``version``.
        self.versions: dict[str, str] = {}
        self.node_id = node_id or unique("fw-node")
        self.behaviour: dict[str, str] = {}
        self.sent: list[Sent] = []
        self.settings: list[tuple[str, str, str]] = []  # (station, key, value) set
        self.setting_answer: dict[str, str] = {}  # a station's answer to a setting

    @activity.defn(name="station_command")
    async def station_command(self, request: CommandRequest) -> CommandReply:
        if request.command == "change-configuration":
            return self._setting(request)
        assert request.command == "update-firmware", request.command
        station = request.station_id
        self.sent.append(
            Sent(station, activity.info().current_attempt_scheduled_time, request.arguments)
        )
        answer, statuses, boot = SCRIPTS[self.behaviour.get(station, "ok")]
        request_id = request.arguments["request_id"]
        async with self.db.sessions() as session:
            row = await session.get(FirmwareUpdateRow, request_id)
            assert row is not None and row.station_id == station
            workflow_id = row.workflow_id
        if boot == "new":
            boot = self.versions.get(request.arguments["location"], self.version)
        report = self._report(workflow_id, station, request_id, statuses, boot)
        if self.background:
            task = asyncio.create_task(report)
            self.reports.add(task)
            task.add_done_callback(self.reports.discard)
        else:
            await report
        return CommandReply(
            station, request.command, "2.0.1", "UpdateFirmware", answer, {}, {}, self.node_id, 1.0
        )

    def _setting(self, request: CommandRequest) -> CommandReply:
        """A configuration change: noted, and answered as the station's script says."""
        station, arguments = request.station_id, request.arguments
        self.settings.append((station, arguments["key_2x"] or arguments["key"], arguments["value"]))
        answer = self.setting_answer.get(station, "Accepted")
        return CommandReply(
            station, request.command, "2.0.1", "SetVariables", answer, {}, {}, self.node_id, 1.0
        )

    async def _report(
        self,
        workflow_id: str,
        station: str,
        request_id: int,
        statuses: list[str],
        boot: str | None,
    ) -> None:
        """What the charger reports after its answer: statuses, then the reboot."""
        handle = self.client.get_workflow_handle(workflow_id)
        for status in statuses:
            async with self.db.sessions.begin() as session:
                await firmware.charger_status(
                    session, station, request_id, status, datetime.now(UTC)
                )
            await handle.signal("progress", status)
        if boot is not None:
            version = "0.9" if boot == "old" else boot
            async with self.db.sessions.begin() as session:
                found = await session.get(Station, station)
                assert found is not None
                found.firmware_version = version
            await handle.signal("booted", version)

    def worker(self) -> Worker:
        """The node's command worker, as concurrent as the gateway's."""
        return Worker(
            self.client,
            task_queue=gateway_task_queue(self.node_id),
            activities=[self.station_command],
            max_concurrent_activities=2000,
        )

    def stations_sent(self) -> list[str]:
        return [s.station_id for s in self.sent]


async def seed_fleet(
    db: Database,
    node: FirmwareNode | None,
    sites: dict[str, int],
    *,
    time_zone: str = "UTC",
    vendor: str = "Acme",
    model: str = "AC-22",
    ocpp_version: str = "1.6",
) -> list[str]:
    """Sites with ``count`` stations each (Acme AC-22 on 0.9), held by ``node``."""
    from activities.persistence.models import Site

    stations: list[str] = []
    for site, count in sites.items():
        for _ in range(count):
            station = unique(f"FW-{site}")
            await seed_station(db, station, site_id=site)
            stations.append(station)
        async with db.sessions.begin() as session:
            found = await session.get(Site, site)
            assert found is not None
            found.time_zone = time_zone
    async with db.sessions.begin() as session:
        for station in stations:
            row = await session.get(Station, station)
            assert row is not None
            row.vendor, row.model, row.firmware_version = vendor, model, "0.9"
            row.ocpp_version = ocpp_version
        if node is not None:
            now = datetime.now(UTC)
            await registry.register(
                session,
                [
                    registry.Registration(s, node.node_id, unique("c"), "2.0.1", None, now)
                    for s in stations
                ],
            )
    return stations


async def seed_image(
    db: Database, version: str, *, models: list[str] | None = None, vendor: str = "Acme"
) -> FirmwareImageRef:
    """A catalogue image of ``vendor``'s models (Acme's AC-22) at ``version``."""
    image_id = unique("img")
    async with db.sessions.begin() as session:
        session.add(
            FirmwareImage(
                id=image_id,
                vendor=vendor,
                models=models or ["AC-22"],
                version=version,
                location=f"https://firmware.example/{image_id}.bin",
                sha256="0" * 64,
            )
        )
    return FirmwareImageRef(image_id, version, f"https://firmware.example/{image_id}.bin")
