"""Records every OCPP exchange of this node's stations in the message log, off the hot path.

An exchange is one row: the CALL (either way) and its answer (a result, an
error, or none), so a charger's reply sits next to the command it answers.
Rows are queued in memory and written in batches through the node's group
commit, once a second; logging never delays or fails an answer to a charger.
When the queue is full (the database is slow or down) rows are dropped and
counted: the log is a diagnostic aid, not the system of record. Old rows are
purged after the retention period.

Memory is bounded in bytes, not rows: a payload larger than ``max_payload_bytes``
is kept as its size and first characters, each station may queue at most
``max_station_bytes`` and the node ``max_pending_bytes``, so one station sending
60 KiB frames as fast as its rate limit allows cannot grow the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta
from typing import Any, Literal

from activities.persistence.group_commit import GroupCommit
from activities.persistence.repositories import station_messages
from gateway.timestamps import utcnow

log = logging.getLogger(__name__)

Mode = Literal["all", "commands", "off"]

_HEAD_CHARS = 512
"""How much of a truncated payload is kept."""


def _fit(value: Any, limit: int) -> tuple[Any, int]:
    """``value`` (or a stand-in of at most a few hundred bytes) and its size as JSON."""
    if value is None:
        return None, 4
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return {"unloggable": type(value).__name__}, 32
    if len(text) <= limit:
        return value, len(text)
    return {"truncated": True, "bytes": len(text), "head": text[:_HEAD_CHARS]}, _HEAD_CHARS + 64


class MessageLog:
    """Batched writer of :class:`~activities.persistence.models.StationMessage` rows."""

    def __init__(
        self,
        writes: GroupCommit,
        node_id: str,
        *,
        mode: Mode = "all",
        retention: timedelta = timedelta(days=7),
        max_pending: int = 50_000,
        max_pending_bytes: int = 32 << 20,
        max_station_bytes: int = 1 << 20,
        max_payload_bytes: int = 4096,
        flush_interval_s: float = 1.0,
        purge_interval_s: float = 3600.0,
    ) -> None:
        self._writes = writes
        self._node_id = node_id
        self.mode = mode
        self.retention = retention
        self._max_pending = max_pending
        self._flush_interval = flush_interval_s
        self._purge_interval = purge_interval_s
        self._max_pending_bytes = max_pending_bytes
        self._max_station_bytes = max_station_bytes
        self._max_payload_bytes = max_payload_bytes
        self._pending: list[dict[str, Any]] = []
        self.pending_bytes = 0
        self._station_bytes: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.written = 0

    def record(
        self,
        station_id: str,
        direction: Literal["in", "out"],
        message_id: str,
        action: str,
        request: Any,
        response: Any,
        *,
        duration_ms: float,
        error_code: str | None = None,
    ) -> None:
        """Queue one exchange (never blocks, never raises)."""
        if self.mode == "off" or (self.mode == "commands" and direction == "in"):
            return
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            return
        request, request_size = _fit(request, self._max_payload_bytes)
        response, response_size = _fit(response, self._max_payload_bytes)
        size = request_size + response_size + 200  # the row's other columns
        station_bytes = self._station_bytes.get(station_id, 0) + size
        if (
            station_bytes > self._max_station_bytes
            or self.pending_bytes + size > self._max_pending_bytes
        ):
            self.dropped += 1
            return
        self._station_bytes[station_id] = station_bytes
        self.pending_bytes += size
        self._pending.append(
            {
                "station_id": station_id,
                "node_id": self._node_id,
                "direction": direction,
                "message_id": message_id[:64],
                "action": action[:64],
                "request": request,
                "response": response,
                "error_code": error_code,
                "duration_ms": duration_ms,
                "at": utcnow(),
            }
        )

    def start(self) -> None:
        """Flush and purge in the background."""
        if self.mode != "off":
            self._task = asyncio.create_task(self._run(), name="message-log")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.flush()

    async def flush(self) -> None:
        """Write the queued frames now."""
        batch, self._pending = self._pending, []
        self.pending_bytes, self._station_bytes = 0, {}
        if not batch:
            return
        try:
            await self._writes.run(lambda session: station_messages.add_many(session, batch))
        except Exception:
            self.dropped += len(batch)
            raise
        self.written += len(batch)

    async def purge(self) -> int:
        """Delete frames older than the retention period; how many went."""
        cutoff = utcnow() - self.retention
        total = 0
        while True:
            gone: int = await self._writes.run(
                lambda session: station_messages.purge_before(session, cutoff)
            )
            total += gone
            if gone < 10_000:
                return total

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_purge = loop.time()
        while True:
            await asyncio.sleep(self._flush_interval)
            try:
                await self.flush()
                if loop.time() >= next_purge:
                    purged = await self.purge()
                    if purged:
                        log.info(
                            "message log: purged %d frames older than %s", purged, self.retention
                        )
                    next_purge = loop.time() + self._purge_interval
            except Exception as exc:
                log.warning("message log write failed (frames dropped): %s", exc)
