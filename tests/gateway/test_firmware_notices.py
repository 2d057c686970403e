"""Firmware status notifications and boots at the gateway (real sockets, both backends):
each status lands on the sending station's own update only, and a boot keeps the
station's version and its firmware history."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from activities.persistence.database import Database
from activities.persistence.models import (
    FirmwareImage,
    FirmwareUpdateRow,
    FirmwareVersionSeen,
    StationEvent,
)
from gateway.server import Gateway
from tests.conftest import unique
from tests.gateway.conftest import RawCharger, connect
from tests.helpers import seed_station

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}
BOOT_2 = {"chargingStation": {"model": "Volt-2", "vendorName": "ACME"}, "reason": "PowerUp"}


async def _open_update(db: Database, station_id: str) -> int:
    """An update of ``station_id`` under way; its request id."""
    now = datetime.now(UTC)
    async with db.sessions.begin() as session:
        image_id = unique("img")
        session.add(
            FirmwareImage(
                id=image_id,
                vendor="ACME",
                models=["Volt-22", "Volt-2"],
                version="9.0",
                location="https://fw.test/x.bin",
                sha256="0" * 64,
            )
        )
        await session.flush()
        row = FirmwareUpdateRow(
            station_id=station_id,
            image_id=image_id,
            workflow_id=unique(f"firmware:{station_id}"),
            target_version="9.0",
            status="sent",
            requested_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        return row.id


async def _charger_status(db: Database, request_id: int) -> str | None:
    async with db.sessions() as session:
        row = await session.get(FirmwareUpdateRow, request_id)
        assert row is not None
        return row.charger_status


async def test_a_station_moves_only_its_own_update(db_gateway: Gateway, db: Database) -> None:
    victim, intruder = unique("FWV"), unique("FWI")
    for station in (victim, intruder):
        await seed_station(db, station)
    theirs, mine = await _open_update(db, victim), await _open_update(db, intruder)
    async with await connect(db_gateway, intruder, "ocpp2.0.1") as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT_2)
        # Another station's request id, one no row has, and one past any column.
        for request_id in (theirs, 2**31 - 1, 2**70):
            notice = {"status": "InstallationFailed", "requestId": request_id}
            assert await charger.ok("FirmwareStatusNotification", notice) == {}
        assert (
            await charger.ok(
                "FirmwareStatusNotification", {"status": "Downloading", "requestId": mine}
            )
            == {}
        )
    assert await _charger_status(db, theirs) is None
    assert await _charger_status(db, mine) == "Downloading"
    async with db.sessions() as session:
        kept = (
            await session.scalars(
                select(StationEvent).where(
                    StationEvent.station_id == intruder, StationEvent.kind == "FirmwareStatus"
                )
            )
        ).all()
    assert len(kept) == 4  # every notice is still kept for operators


async def test_1_6_statuses_reach_the_open_update_plain_and_signed(
    db_gateway: Gateway, db: Database
) -> None:
    station = unique("FW16")
    await seed_station(db, station)
    request_id = await _open_update(db, station)
    async with await connect(db_gateway, station, "ocpp1.6") as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT_16)
        # Plain 1.6 names no request: the station's open update takes it.
        assert await charger.ok("FirmwareStatusNotification", {"status": "Downloading"}) == {}
        assert await _charger_status(db, request_id) == "Downloading"
        signed = {"status": "SignatureVerified", "requestId": request_id}
        assert await charger.ok("SignedFirmwareStatusNotification", signed) == {}
        assert await _charger_status(db, request_id) == "SignatureVerified"
        bad = await charger.call(
            "SignedFirmwareStatusNotification", {"status": "Nonsense", "requestId": 1}
        )
        assert bad[0] == 4  # a CALLERROR for a status the schema does not know
    assert await _charger_status(db, request_id) == "SignatureVerified"


async def test_boots_keep_the_version_and_its_history(db_gateway: Gateway, db: Database) -> None:
    station = unique("FWB")
    await seed_station(db, station)
    for version in ("1.0", "1.0", "1.1"):
        async with await connect(db_gateway, station, "ocpp1.6") as ws:
            await RawCharger(ws).ok("BootNotification", {**BOOT_16, "firmwareVersion": version})
    async with db.sessions() as session:
        seen = (
            await session.scalars(
                select(FirmwareVersionSeen)
                .where(FirmwareVersionSeen.station_id == station)
                .order_by(FirmwareVersionSeen.id)
            )
        ).all()
    assert [s.version for s in seen] == ["1.0", "1.1"]
