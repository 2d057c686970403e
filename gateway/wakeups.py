"""Best-effort workflow signals, sent off a charger's receive loop.

The state a signal announces is already in the database when it is sent; the
signal only wakes a workflow (an upload's, a reservation's, a site's) sooner
than its own timeout would. A slow or absent Temporal must never delay the
gateway's answers to chargers, so each signal runs as a background task
bounded to a few seconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

from activities.temporal_link import TemporalLink
from gateway.outbox_relay import signal_workflow

SIGNAL_TIMEOUT_S = 5.0


class Wakeups:
    """Sends signals in the background and keeps their tasks until they end."""

    def __init__(self, temporal: TemporalLink) -> None:
        self._temporal = temporal
        self._tasks: set[asyncio.Task[None]] = set()

    def signal(self, workflow_id: str, signal: str, *args: Any) -> None:
        """Signal ``workflow_id`` soon; failures are logged at debug level and dropped."""
        task = asyncio.create_task(
            asyncio.wait_for(
                signal_workflow(self._temporal, workflow_id, signal, *args), SIGNAL_TIMEOUT_S
            )
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
