"""The charging-session workflow: one per transaction, from start to charge detail record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes

from workflows import search_attributes as sa

# Passed through so the data converter sees the real ``datetime`` class in these
# dataclasses' hints, not the sandbox's restricted proxy of it.
with workflow.unsafe.imports_passed_through():
    from activities.sessions import SessionActivities, SettleRequest
    from workflows.domain import (
        ChargeDetailRecord,
        SessionProgress,
        SessionStarted,
        SessionState,
        SessionStopped,
    )

MAX_SESSION = timedelta(days=7)
"""A session with no stop after this long is closed with the last known reading."""


@dataclass
class SessionView:
    """Live state of a session, answered by the ``state`` query."""

    state: SessionState
    station_id: str
    connector_id: int
    transaction_id: str
    started_at: datetime
    meter_start_wh: int | None
    energy_so_far_wh: float
    power_w: float | None
    stopped_at: datetime | None
    stop_reason: str | None
    cdr: ChargeDetailRecord | None


def initial_search_attributes(start: SessionStarted) -> TypedSearchAttributes:
    """Search attributes a session workflow is started with."""
    pairs = [
        SearchAttributePair(sa.STATION_ID, start.station_id),
        SearchAttributePair(sa.STATE, SessionState.ACTIVE.value),
    ]
    if start.site_id:
        pairs.append(SearchAttributePair(sa.SITE_ID, start.site_id))
    return TypedSearchAttributes(pairs)


# Unsandboxed: a network runs thousands of short sessions an hour, and the
# sandbox re-imports this module for every run (a quarter of the worker's CPU,
# measured with py-spy). The code below uses only workflow.now() and Temporal
# timers; tests/workflows replays recorded histories to guard determinism.
@workflow.defn(name="ChargingSession", sandboxed=False)
class ChargingSessionWorkflow:
    """Follows one transaction: waits for its stop, then settles it into a CDR.

    Started by the gateway with signal-with-start (``started`` or ``stopped``), so
    whichever lifecycle event reaches Temporal first starts it, and duplicates
    are harmless.
    """

    @workflow.init
    def __init__(self, start: SessionStarted) -> None:
        # Signals may be handled before ``run`` begins: the input must be known here.
        self._start = start
        self._stop: SessionStopped | None = None
        self._progress: SessionProgress | None = None
        self._state = SessionState.ACTIVE
        self._cdr: ChargeDetailRecord | None = None

    @workflow.run
    async def run(self, start: SessionStarted) -> ChargeDetailRecord:
        """Wait for the stop (at most :data:`MAX_SESSION`), then write the CDR.

        The search attributes arrive with the start (:func:`initial_search_attributes`);
        the state changes once more, to completed: each upsert is a history event
        and a visibility write, and the current details already say "stopped".
        """
        self._details()
        if not await self._wait_for_stop():
            self._stop = self._abandoned_stop(start)
        self._state = SessionState.STOPPED
        self._details()
        assert self._stop is not None
        # A local activity: settling is a few short queries, and running it inside
        # the workflow task saves the server a task round trip per session.
        self._cdr = await workflow.execute_local_activity_method(
            SessionActivities.settle_session,
            SettleRequest(start=start, stop=self._stop),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )
        self._set_state(SessionState.COMPLETED)
        return self._cdr

    async def _wait_for_stop(self) -> bool:
        try:
            await workflow.wait_condition(lambda: self._stop is not None, timeout=MAX_SESSION)
        except TimeoutError:
            return False
        return True

    def _abandoned_stop(self, start: SessionStarted) -> SessionStopped:
        # No reading: settling takes the highest register among the stored samples,
        # which are more complete than the throttled progress signals.
        return SessionStopped(
            transaction_id=start.transaction_id,
            meter_stop_wh=None,
            stopped_at=workflow.now(),
            reason="NoStopReceived",
        )

    @workflow.signal
    def started(self, start: SessionStarted) -> None:
        """The start event; the workflow input already carries it, so this is a no-op."""

    @workflow.signal
    def stopped(self, stop: SessionStopped) -> None:
        """The charger ended the transaction. Only the first stop counts."""
        if self._stop is None:
            self._stop = stop

    @workflow.signal
    def progress(self, progress: SessionProgress) -> None:
        """Throttled progress from the gateway; older readings are ignored."""
        if self._progress is None or progress.measured_at >= self._progress.measured_at:
            self._progress = progress
            self._details()

    @workflow.query
    def state(self) -> SessionView:
        """Live state for the API and the Temporal UI."""
        start = self._start
        return SessionView(
            state=self._state,
            station_id=start.station_id,
            connector_id=start.connector_id,
            transaction_id=start.transaction_id,
            started_at=start.started_at,
            meter_start_wh=start.meter_start_wh,
            energy_so_far_wh=self._energy_so_far(),
            power_w=self._progress.power_w if self._progress else None,
            stopped_at=self._stop.stopped_at if self._stop else None,
            stop_reason=self._stop.reason if self._stop else None,
            cdr=self._cdr,
        )

    def _energy_so_far(self) -> float:
        """Best live estimate; the CDR's figure, computed from stored samples, is final."""
        if self._cdr is not None:
            return self._cdr.energy_wh
        begin = self._start.meter_start_wh
        end: float | None = None
        if self._stop is not None and self._stop.meter_stop_wh is not None:
            end = self._stop.meter_stop_wh
        elif self._progress is not None:
            end = self._progress.energy_register_wh
        if begin is None or end is None:
            return 0.0
        return max(0.0, end - begin)

    def _set_state(self, state: SessionState) -> None:
        self._state = state
        workflow.upsert_search_attributes([sa.STATE.value_set(state.value)])
        self._details()

    def _details(self) -> None:
        start = self._start
        text = (
            f"**{self._state.value}** · station {start.station_id} connector "
            f"{start.connector_id} · {self._energy_so_far() / 1000:.2f} kWh"
        )
        if self._progress and self._progress.power_w is not None and self._stop is None:
            text += f" · {self._progress.power_w / 1000:.1f} kW"
        if self._cdr is not None:
            text += f" · {self._cdr.total_cost} {self._cdr.currency}"
        workflow.set_current_details(text)
