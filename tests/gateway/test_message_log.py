"""The message log writer: modes, batching and retention, on a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
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


async def test_a_flood_of_large_frames_keeps_the_log_small(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Four stations send 60 KiB DataTransfer frames as fast as they can for two
    seconds: what the log keeps of each is its size and head, refused frames are
    kept without payload, and the queue stays within its byte bound."""
    import asyncio
    import json
    import resource

    from gateway.server import Gateway
    from tests.gateway.conftest import connect, gateway_config
    from tests.helpers import seed_station

    # A small burst, so that the rate limit refuses frames however fast this machine is.
    node = Gateway(
        gateway_config(max_frame_bytes=65_536, rate_limit_burst=50, rate_limit_per_s=50.0),
        sqlite_db,
    )
    await node.start()
    idents = [f"FLOOD-{i}-{utcnow().timestamp():.0f}" for i in range(4)]
    for ident in idents:
        await seed_station(sqlite_db, ident)
    frame = json.dumps([2, "x", "DataTransfer", {"vendorId": "acme", "data": "y" * 60_000}])
    peak = 0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    async def flood(ident: str) -> int:
        sent = 0
        async with await connect(node, ident) as ws:
            deadline = asyncio.get_running_loop().time() + 2.0
            while asyncio.get_running_loop().time() < deadline:
                await ws.send(frame.replace('"x"', f'"{sent}"', 1))
                await ws.recv()
                sent += 1
        return sent

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, node.message_log.pending_bytes)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        sent = sum(await asyncio.gather(*(flood(i) for i in idents)))
    finally:
        watcher.cancel()
        await node.stop()
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert sent > 500, sent  # the flood did get past the rate limit's burst
    assert peak <= 32 << 20
    async with sqlite_db.sessions() as session:
        rows = (
            await session.scalars(
                select(StationMessage).where(StationMessage.station_id.in_(idents))
            )
        ).all()
    assert rows
    assert all(len(json.dumps(r.request)) < 1024 for r in rows)
    assert any(r.request.get("truncated") for r in rows)
    assert any(r.request.get("omitted") for r in rows)  # refused by the rate limit
    assert grown_mib < 200, grown_mib
    refusals = [r for r in caplog.records if "exceeds the message rate limit" in r.getMessage()]
    assert 1 <= len(refusals) <= len(idents), len(refusals)  # one line per station a minute
