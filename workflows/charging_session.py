"""The charging-session workflow: one per transaction, from start to charge detail record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import search_attributes as sa
from workflows.command_routing import send_command
from workflows.payment_hold import payment_hold_workflow_id

# Passed through so the data converter sees the real ``datetime`` class in these
# dataclasses' hints, not the sandbox's restricted proxy of it.
with workflow.unsafe.imports_passed_through():
    from activities.sessions import (
        HoldMissed,
        RemoteStartRecord,
        SessionActivities,
        SettleRequest,
        UnsettledSession,
    )
    from workflows.commands import CommandReply, CommandRequest, RemoteStart
    from workflows.domain import (
        ChargeDetailRecord,
        RemoteStartRequest,
        SessionProgress,
        SessionStarted,
        SessionState,
        SessionStopped,
    )
    from workflows.smart_charging import SiteSessionEvent

MAX_SESSION = timedelta(days=7)
"""A session with no stop after this long is closed with the last known reading."""


# Patches, oldest first (samples-python's hello_patch discipline: a change to the
# commands a workflow issues is guarded, so histories recorded before it replay):
# - "site-charging": sessions asked a local activity whether the site is smart-charged;
# - "gateway-site-flag": the gateway's SessionStarted.smart_charging answers that;
# - "remote-start-expiry": a remote start's wait ends by marking the claim expired in
#   the database, so the gateway and the workflow agree on one expiry;
# - "bounded-settlement": a settlement that fails for good (the activity says which
#   failures are final; an unreachable database is retried) goes to reconciliation.


@dataclass
class SessionView:
    """Live state of a session, answered by the ``state`` query."""

    state: SessionState
    station_id: str
    connector_id: int | None
    transaction_id: str | None
    started_at: datetime | None
    meter_start_wh: int | None
    energy_so_far_wh: float
    power_w: float | None
    stopped_at: datetime | None
    stop_reason: str | None
    cdr: ChargeDetailRecord | None
    # A remote start's request id and what the charger answered it.
    remote_start_id: int | None = None
    remote_reply: CommandReply | None = None


def initial_search_attributes(
    start: SessionStarted | RemoteStartRequest,
) -> TypedSearchAttributes:
    """Search attributes a session workflow is started with."""
    state = SessionState.ACTIVE if isinstance(start, SessionStarted) else SessionState.REQUESTED
    pairs = [
        SearchAttributePair(sa.STATION_ID, start.station_id),
        SearchAttributePair(sa.STATE, state.value),
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
    are harmless. A remote start begins it earlier, with no transaction yet: it
    sends the request to the charger and waits for the transaction the gateway
    correlates to it.
    """

    # One input, either kind: the recorded histories of sessions started by the
    # gateway (one SessionStarted argument) keep replaying unchanged.
    @workflow.init
    def __init__(self, start: SessionStarted | RemoteStartRequest) -> None:
        # Signals may be handled before ``run`` begins: the input must be known here.
        self._start: SessionStarted | None
        self._remote: RemoteStartRequest | None
        if isinstance(start, RemoteStartRequest):
            self._start, self._remote = None, start
        else:
            self._start, self._remote = start, None
        self._remote_reply: CommandReply | None = None
        self._remote_error: ApplicationError | None = None
        self._stop: SessionStopped | None = None
        self._progress: SessionProgress | None = None
        self._state = SessionState.REQUESTED if self._remote else SessionState.ACTIVE
        self._cdr: ChargeDetailRecord | None = None

    @workflow.run
    async def run(self, start: SessionStarted | RemoteStartRequest) -> ChargeDetailRecord | None:
        """Wait for the stop (at most :data:`MAX_SESSION`), then write the CDR.

        The search attributes arrive with the start (:func:`initial_search_attributes`);
        the state changes once more, to completed: each upsert is a history event
        and a visibility write, and the current details already say "stopped".
        A remote start that the charger refuses, or that no transaction follows in
        time, ends as ``not_started`` with no CDR.
        """
        if isinstance(start, RemoteStartRequest):
            if not await self._remote_start(start):
                return None
            assert self._start is not None
            start = self._start
        self._details()
        smart = await self._site_is_smart(start)
        if smart:
            await self._tell_site("vehicle_arrived", start)
        if not await self._wait_for_stop():
            self._stop = self._abandoned_stop(start)
        self._state = SessionState.STOPPED
        self._details()
        if smart:
            await self._tell_site("vehicle_left", start)
        assert self._stop is not None
        return await self._settle(start, self._stop)

    async def _settle(
        self, start: SessionStarted, stop: SessionStopped
    ) -> ChargeDetailRecord | None:
        """Write the CDR; a session that will not settle goes to reconciliation."""
        bounded = workflow.patched("bounded-settlement")
        request = SettleRequest(start=start, stop=stop)
        try:
            # A local activity: settling is a few short queries, and running it inside
            # the workflow task saves the server a task round trip per session.
            self._cdr = await workflow.execute_local_activity_method(
                SessionActivities.settle_session,
                request,
                start_to_close_timeout=timedelta(seconds=30),
                # Bounded by the activity's classification: data that will not settle
                # is non-retryable, an unreachable database retries without limit.
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            )
        except (ActivityError, ApplicationError) as failure:
            # A local activity's own error may arrive unwrapped (ApplicationError).
            if not bounded:
                raise
            cause = failure.cause or failure
            await workflow.execute_local_activity_method(
                SessionActivities.record_unsettled,
                UnsettledSession(request=request, error=f"{type(cause).__name__}: {cause}"),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            )
            self._set_state(SessionState.UNSETTLED)
            return None
        self._set_state(SessionState.COMPLETED)
        if self._cdr.payment_hold is not None and workflow.patched("capture-payment-hold"):
            await self._capture(self._cdr.payment_hold, self._cdr.total_cost)
        return self._cdr

    async def _capture(self, key: str, total: str) -> None:
        """Tell the ad-hoc session's card hold its CDR total, to capture. The hold was
        claimed with the CDR, so only this session does; a hold already over (it
        lapsed first, or was ended by hand) captures nothing: the CDR goes to
        reconciliation, to be paid otherwise."""
        try:
            await workflow.get_external_workflow_handle(payment_hold_workflow_id(key)).signal(
                "settle", total
            )
        except Exception as error:  # the hold is over
            workflow.logger.warning("payment hold %s not settled: %s", key, error)
            assert self._cdr is not None
            await workflow.execute_local_activity_method(
                SessionActivities.record_hold_missed,
                HoldMissed(self._cdr, f"{type(error).__name__}: {error}"),
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            )

    async def _site_is_smart(self, start: SessionStarted) -> bool:
        """Whether the session tells the site's workflow when it starts and ends."""
        if workflow.patched("gateway-site-flag"):
            # The gateway says (cached per site), so other sites pay nothing more.
            return start.smart_charging and start.site_id is not None
        # Replaying a history recorded before that flag: one recorded between the two
        # patches asked a local activity; one recorded before either asked nobody
        # (and both carry smart_charging False).
        if not workflow.patched("site-charging") or not start.site_id:
            return start.smart_charging and start.site_id is not None
        return await workflow.execute_local_activity(
            "site_is_smart",
            start.site_id,
            result_type=bool,
            start_to_close_timeout=timedelta(seconds=10),
        )

    async def _tell_site(self, signal: str, start: SessionStarted) -> None:
        """Let the site's smart-charging workflow re-plan (best effort: if it is not
        running, the site is not being smart-charged right now)."""
        assert start.site_id is not None
        event = SiteSessionEvent(
            site_id=start.site_id,
            station_id=start.station_id,
            evse_id=start.evse_id or start.connector_id,
            transaction_id=start.transaction_id,
            started_at=start.started_at,
            meter_start_wh=start.meter_start_wh,
        )
        try:
            await workflow.get_external_workflow_handle(f"site:{start.site_id}").signal(
                signal, event
            )
        except Exception as error:  # not running: nothing to tell
            workflow.logger.info("site %s not told: %s", start.site_id, error)

    async def _remote_start(self, remote: RemoteStartRequest) -> bool:
        """Send the remote start; True once the charger's transaction has begun."""
        self._details()
        now = workflow.now()
        # The charger may start the transaction up to its connection timeout after
        # accepting; after that no transaction is matched to this request.
        window = timedelta(seconds=remote.command_timeout_s + remote.start_timeout_s)
        await workflow.execute_local_activity_method(
            SessionActivities.record_remote_start,
            RemoteStartRecord(
                request=remote,
                workflow_id=workflow.info().workflow_id,
                requested_at=now,
                expires_at=now + window,
            ),
            start_to_close_timeout=timedelta(seconds=10),
        )
        command = RemoteStart(
            id_token=remote.id_token,
            evse_id=remote.evse_id,
            connector_id=remote.connector_id,
            remote_start_id=remote.remote_start_id,
            charging_profile=remote.charging_profile,
        )
        try:
            self._remote_reply = await send_command(
                CommandRequest.of(
                    remote.station_id,
                    command,
                    remote.request_id,
                    remote.command_timeout_s,
                    send_by=remote.send_by,
                )
            )
        except ApplicationError as error:
            self._remote_error = error
            return await self._remote_start_ended(remote)
        if self._remote_reply.status != "Accepted":
            return await self._remote_start_ended(remote)
        try:
            await workflow.wait_condition(
                lambda: self._start is not None, timeout=timedelta(seconds=remote.start_timeout_s)
            )
        except TimeoutError:
            return await self._remote_start_ended(remote)
        self._set_state(SessionState.ACTIVE)
        return True

    async def _remote_start_ended(self, remote: RemoteStartRequest) -> bool:
        """No transaction followed the request in time: expire its claim in the database,
        unless the gateway matched a transaction to it first. The database decides once,
        so a transaction is never attached to a workflow that stopped waiting for it:
        True (and the session goes on) if one was matched, its start then on its way."""
        if workflow.patched("remote-start-expiry"):
            claimed = await workflow.execute_local_activity_method(
                SessionActivities.expire_remote_start,
                remote,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
            )
            if claimed:
                try:
                    await workflow.wait_condition(
                        lambda: self._start is not None, timeout=MAX_SESSION
                    )
                except TimeoutError:
                    pass
                else:
                    self._set_state(SessionState.ACTIVE)
                    return True
        self._set_state(SessionState.NOT_STARTED)
        return False

    @workflow.update
    async def remote_start_result(self) -> CommandReply:
        """The charger's answer to the remote start (fails as the command failed)."""
        await workflow.wait_condition(
            lambda: self._remote_reply is not None or self._remote_error is not None
        )
        if self._remote_error is not None:
            raise self._remote_error
        assert self._remote_reply is not None
        return self._remote_reply

    async def _wait_for_stop(self) -> bool:
        try:
            await workflow.wait_condition(lambda: self._stop is not None, timeout=MAX_SESSION)
        except TimeoutError:
            return False
        return True

    def _abandoned_stop(self, start: SessionStarted) -> SessionStopped:
        # No reading: settling takes the highest register among the stored samples.
        return SessionStopped(
            transaction_id=start.transaction_id,
            meter_stop_wh=None,
            stopped_at=workflow.now(),
            reason="NoStopReceived",
        )

    @workflow.signal
    def started(self, start: SessionStarted) -> None:
        """The start event: a remote start's workflow learns its transaction here (for
        the others the input already carries it)."""
        if self._start is None:
            self._start = start

    @workflow.signal
    def stopped(self, stop: SessionStopped) -> None:
        """The charger ended the transaction. Only the first stop counts."""
        if self._stop is None:
            self._stop = stop

    @workflow.signal
    def progress(self, progress: SessionProgress) -> None:
        """Progress from gateways of earlier versions (sessions recorded then still send
        it on replay); today's gateway sends none: the API reads the live figures from
        the stored samples, so a history stays a handful of events however long."""
        if self._progress is None or progress.measured_at >= self._progress.measured_at:
            self._progress = progress
            self._details()

    @workflow.query
    def state(self) -> SessionView:
        """Live state for the API and the Temporal UI."""
        start, remote = self._start, self._remote
        station = start.station_id if start else remote.station_id if remote else ""
        return SessionView(
            state=self._state,
            station_id=station,
            connector_id=start.connector_id if start else None,
            transaction_id=start.transaction_id if start else None,
            started_at=start.started_at if start else None,
            meter_start_wh=start.meter_start_wh if start else None,
            energy_so_far_wh=self._energy_so_far(),
            power_w=self._progress.power_w if self._progress else None,
            stopped_at=self._stop.stopped_at if self._stop else None,
            stop_reason=self._stop.reason if self._stop else None,
            cdr=self._cdr,
            remote_start_id=remote.remote_start_id if remote else None,
            remote_reply=self._remote_reply,
        )

    def _energy_so_far(self) -> float:
        """Best live estimate; the CDR's figure, computed from stored samples, is final."""
        if self._cdr is not None:
            return self._cdr.energy_wh
        if self._start is None:
            return 0.0
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
        if start is None:
            self._remote_details()
            return
        text = (
            f"**{self._state.value}** · station {start.station_id} connector "
            f"{start.connector_id} · {self._energy_so_far() / 1000:.2f} kWh"
        )
        if self._progress and self._progress.power_w is not None and self._stop is None:
            text += f" · {self._progress.power_w / 1000:.1f} kW"
        if self._cdr is not None:
            text += f" · {self._cdr.total_cost} {self._cdr.currency}"
        workflow.set_current_details(text)

    def _remote_details(self) -> None:
        remote = self._remote
        assert remote is not None
        text = (
            f"**{self._state.value}** · remote start {remote.remote_start_id} "
            f"on {remote.station_id}"
        )
        if self._remote_reply is not None:
            text += f" · charger answered {self._remote_reply.status}"
        if self._remote_error is not None:
            text += f" · {self._remote_error.type}: {self._remote_error.message}"
        workflow.set_current_details(text)
