"""The message log writer: modes, batching and retention, on a real database."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from activities.persistence.database import Database
from activities.persistence.group_commit import GroupCommit
from activities.persistence.models import StationMessage
from gateway.message_log import MessageLog
from gateway.timestamps import utcnow


async def _count(db: Database, station_id: str) -> int:
    async with db.sessions() as session:
        query = select(func.count()).where(StationMessage.station_id == station_id)
        return int(await session.scalar(query) or 0)


async def test_modes_decide_what_is_kept(db: Database) -> None:
    """ "all" keeps every frame, "commands" only CSMS-initiated ones, "off" nothing."""
    for mode, expected in (("all", 2), ("commands", 1), ("off", 0)):
        station = f"LOG-{mode}"
        writer = MessageLog(GroupCommit(db), "gw-t", mode=mode)  # type: ignore[arg-type]
        writer.record(station, "in", "1", "Heartbeat", {}, {"currentTime": "x"}, duration_ms=1)
        writer.record(station, "out", "2", "Reset", {"type": "Soft"}, None, duration_ms=1)
        await writer.flush()
        assert await _count(db, station) == expected, mode


async def test_retention_purges_old_frames_only(db: Database) -> None:
    """Frames older than the retention go; recent ones stay."""
    writer = MessageLog(GroupCommit(db), "gw-t", retention=timedelta(days=1))
    for i in range(3):
        writer.record("LOG-OLD", "in", str(i), "Heartbeat", {}, {}, duration_ms=1)
    writer.record("LOG-NEW", "in", "9", "Heartbeat", {}, {}, duration_ms=1)
    await writer.flush()
    async with db.sessions.begin() as session:
        await session.execute(
            update(StationMessage)
            .where(StationMessage.station_id == "LOG-OLD")
            .values(at=utcnow() - timedelta(days=2))
        )
    assert await writer.purge() >= 3
    assert await _count(db, "LOG-OLD") == 0
    assert await _count(db, "LOG-NEW") == 1


async def test_a_full_queue_drops_and_counts_instead_of_blocking(db: Database) -> None:
    """The log never holds up the gateway: beyond the bound, frames are counted as dropped."""
    writer = MessageLog(GroupCommit(db), "gw-t", max_pending=2)
    for i in range(5):
        writer.record("LOG-FULL", "in", str(i), "Heartbeat", {}, {}, duration_ms=1)
    assert writer.dropped == 3
    await writer.flush()
    assert await _count(db, "LOG-FULL") == 2
