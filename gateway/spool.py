"""A gateway node's local spool: charger messages kept while the database is away.

During a database outage a charger's MeterValues and transaction events would
get InternalError, and chargers that give up after a few attempts drop them. The
node acknowledges them instead and writes them to a SQLite file of its own (one
per node, on local disk, written synchronously), then replays them through the
normal path, in order, when the database is back. While a station has entries
waiting, its newer messages queue behind them, so a stop never overtakes its
start. The spool is bounded: when it is full, messages get InternalError again
(and the charger retries), never silently lost.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SpooledMessage:
    """One message kept for replay."""

    id: int
    station_id: str
    kind: str
    payload: dict[str, Any]


class Spool:
    """A bounded, durable FIFO of charger messages per node."""

    def __init__(self, path: Path, *, max_entries: int = 200_000) -> None:
        self.path = path
        self.max_entries = max_entries
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # acknowledged means on disk
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "station_id TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL)"
        )
        self._waiting: dict[str, int] = {}
        for station_id, count in self._db.execute(
            "SELECT station_id, COUNT(*) FROM spool GROUP BY station_id"
        ):
            self._waiting[station_id] = count

    def __len__(self) -> int:
        return sum(self._waiting.values())

    def waiting(self, station_id: str) -> bool:
        """Whether the station has messages waiting (its new ones must queue behind)."""
        return self._waiting.get(station_id, 0) > 0

    async def add(self, station_id: str, kind: str, payload: dict[str, Any]) -> bool:
        """Keep a message (on disk before this returns); False if the spool is full."""
        if len(self) >= self.max_entries:
            return False
        text = json.dumps(payload, separators=(",", ":"))
        await asyncio.to_thread(self._insert, station_id, kind, text)
        self._waiting[station_id] = self._waiting.get(station_id, 0) + 1
        return True

    async def oldest(self, limit: int = 200) -> list[SpooledMessage]:
        """The oldest messages, in the order they came."""
        rows = await asyncio.to_thread(self._select, limit)
        return [SpooledMessage(i, s, k, json.loads(p)) for i, s, k, p in rows]

    async def remove(self, message: SpooledMessage) -> None:
        """Forget a replayed message."""
        await asyncio.to_thread(self._delete, message.id)
        left = self._waiting.get(message.station_id, 1) - 1
        if left > 0:
            self._waiting[message.station_id] = left
        else:
            self._waiting.pop(message.station_id, None)

    def close(self) -> None:
        """Close the file (what it holds is replayed at the next start)."""
        with self._lock:
            self._db.close()

    def _insert(self, station_id: str, kind: str, payload: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO spool (station_id, kind, payload) VALUES (?, ?, ?)",
                (station_id, kind, payload),
            )

    def _select(self, limit: int) -> list[tuple[int, str, str, str]]:
        with self._lock:
            return list(
                self._db.execute(
                    "SELECT id, station_id, kind, payload FROM spool ORDER BY id LIMIT ?", (limit,)
                )
            )

    def _delete(self, message_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM spool WHERE id = ?", (message_id,))
