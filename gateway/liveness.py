"""Liveness of the stations a gateway node holds, as an explicit state machine.

    connected ──boot accepted / any message──▶ online ──no message for silent_after_s──▶ silent
        │                 │                      ▲                                      │
        └─boot pending/rejected─▶ booting        └────────────any message───────────────┘
    every state ──socket closed (by the station, replaced, half-open: pings unanswered)──▶ offline

Fed by the socket (open, close and why), WebSocket pings (websockets closes a
connection whose pong does not come within ``ping_timeout_s``: a half-open
connection is offline within ``ping_interval_s + ping_timeout_s``) and the
station's messages (heartbeats included: one timestamp in memory each, no write).
Each transition is stored with its cause; the health workflow hears of it as a
fact through the outbox (all but ``connected``, which ``online`` follows at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import OutboxEvent
from activities.persistence.repositories import liveness
from gateway import health_facts
from gateway.connection import StationContext
from gateway.metrics import GatewayMetrics
from gateway.services import GatewayServices
from gateway.timestamps import utcnow
from workflows.health import FactKind, Liveness, StationFact

log = logging.getLogger(__name__)


@dataclass
class Watched:
    """One connection's liveness."""

    context: StationContext
    state: Liveness = Liveness.CONNECTED
    last_message: float = field(default_factory=time.monotonic)
    # Writes of one connection's transitions are kept in order.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class LivenessMonitor:
    """Tracks every connection of one node; a sweep finds the silent ones."""

    def __init__(
        self,
        services: GatewayServices,
        *,
        also: list[Callable[[], Awaitable[None]]] | None = None,
    ) -> None:
        self._services = services
        # Other periodic checks of the node's stations (telemetry symptoms).
        self._also = also or []
        config = services.config
        self.silent_after_s = config.silent_after_s or 2 * config.heartbeat_interval_s + 60
        self._watched: dict[str, Watched] = {}
        self._task: asyncio.Task[None] | None = None
        self._moving: set[asyncio.Task[None]] = set()
        self.transitions = 0
        self.metrics: GatewayMetrics | None = None

    def start(self) -> None:
        """Start the sweep for silent stations."""
        self._task = asyncio.create_task(self._sweep_forever(), name="liveness-sweep")

    async def stop(self) -> None:
        """Stop the sweep."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def connected(self, context: StationContext, remote: str | None) -> None:
        """A socket opened."""
        watched = Watched(context)
        self._watched[context.connection_id] = watched
        await self._move(watched, Liveness.CONNECTED, f"socket opened from {remote or '?'}")

    def message(self, context: StationContext, action: str) -> None:
        """The station sent a CALL: it is alive (no write unless its state changes)."""
        watched = self._watched.get(context.connection_id)
        if watched is None:
            return
        watched.last_message = time.monotonic()
        if action == "BootNotification":
            return  # its answer decides (see booted)
        if watched.state in (Liveness.CONNECTED, Liveness.SILENT):
            cause = "messages again" if watched.state is Liveness.SILENT else f"sent {action}"
            self._spawn(self._move(watched, Liveness.ONLINE, cause))

    async def booted(self, context: StationContext, registration: str) -> None:
        """The station booted; accepted stations are online, the others booting."""
        watched = self._watched.get(context.connection_id)
        if watched is None:
            return
        if registration == "accepted":
            await self._move(watched, Liveness.ONLINE, "boot accepted")
        else:
            await self._move(watched, Liveness.BOOTING, f"boot answered {registration}")

    async def closed(self, context: StationContext, cause: str) -> None:
        """The socket closed, for ``cause``."""
        watched = self._watched.pop(context.connection_id, None)
        if watched is None:
            return
        await self._move(watched, Liveness.OFFLINE, cause)

    def state_of(self, context: StationContext) -> Liveness | None:
        """A connection's state now (None: not watched)."""
        watched = self._watched.get(context.connection_id)
        return None if watched is None else watched.state

    async def sweep(self) -> int:
        """Mark online stations that said nothing for ``silent_after_s`` silent; returns
        how many went silent."""
        now = time.monotonic()
        silent = [
            w
            for w in list(self._watched.values())
            if w.state is Liveness.ONLINE and now - w.last_message >= self.silent_after_s
        ]
        for watched in silent:
            quiet = now - watched.last_message
            await self._move(watched, Liveness.SILENT, f"no message for {quiet:.0f} s")
        return len(silent)

    async def _sweep_forever(self) -> None:
        interval = max(1.0, min(30.0, self.silent_after_s / 4))
        while True:
            await asyncio.sleep(interval)
            for work in (self.sweep, *self._also):
                try:
                    await work()
                except Exception as exc:
                    log.warning("station sweep paused: %s", exc)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._moving.add(task)
        task.add_done_callback(self._moving.discard)
        task.add_done_callback(_log_failure)

    async def _move(self, watched: Watched, state: Liveness, cause: str) -> None:
        async with watched.lock:
            previous = watched.state
            if previous is state and state is not Liveness.CONNECTED:
                return
            watched.state = state
            context = watched.context
            change = liveness.Change(
                station_id=context.station_id,
                state=state.value,
                previous=None if state is Liveness.CONNECTED else previous.value,
                cause=cause,
                at=utcnow(),
                node_id=self._services.config.node_id,
                connection_id=context.connection_id,
            )
            node_id = self._services.config.node_id

            async def store(session: AsyncSession) -> list[OutboxEvent]:
                if not await liveness.record(session, change):
                    return []
                if state is Liveness.CONNECTED:
                    return []
                fact = StationFact(
                    station_id=change.station_id,
                    kind=FactKind.LIVENESS,
                    at=change.at,
                    state=state.value,
                    cause=cause,
                    ocpp_version=context.ocpp_version or None,
                )
                return [health_facts.enqueue(session, node_id, fact)]

            try:
                rows = await self._services.writes.run(store)
            except Exception as exc:
                # Advisory: the socket and its messages go on; the next change is kept.
                log.warning("%s: liveness %s not kept: %s", context.station_id, state, exc)
                return
            self.transitions += 1
            if self.metrics is not None:
                self.metrics.liveness.labels(state.value).inc()
            for row in rows:
                self._services.relay.submit(row)


def _log_failure(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        error = task.exception()
        if error is not None:
            log.warning("liveness change failed: %s", error)


def close_cause(close_code: int | None, close_reason: str, by_station: bool) -> str:
    """Why a socket closed, in words an operator reads."""
    if "keepalive ping timeout" in close_reason:
        return "half-open: pings not answered"
    if close_reason == "replaced by a new connection":
        return "replaced by a new connection"
    if close_code is None:
        return "connection lost"
    detail = f"code {close_code}" + (f", {close_reason}" if close_reason else "")
    return f"closed by the {'station' if by_station else 'gateway'} ({detail})"
