"""A firmware campaign (``rollout:{id}``): a canary, then growing waves, each station a
``FirmwareUpdate`` child, paced by maintenance windows and site limits, stopped by
its abort criteria; operators pause, resume, cancel, retry and promote it."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from types import EllipsisType

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

from workflows.firmware_update import FirmwareUpdateWorkflow

with workflow.unsafe.imports_passed_through():
    from activities.firmware import FirmwareActivities, RolloutState, RolloutTargets
    from workflows import rollout_plan
    from workflows.firmware import (
        FailureClass,
        FirmwareUpdateRequest,
        FirmwareUpdateResult,
        RetryRequest,
        RolloutProgress,
        RolloutRequest,
        RolloutSettings,
        StationProgress,
        Target,
        TargetQuery,
        Targets,
        WaveProgress,
        Window,
        rollout_update_workflow_id,
    )

DB_CALL = timedelta(seconds=30)
DB_RETRY = RetryPolicy(maximum_attempts=5)
RUNNING, PAUSED, ABORTED, CANCELLED, COMPLETED = (
    "running",
    "paused",
    "aborted",
    "cancelled",
    "completed",
)
# Station states that are over (a failed one may be retried).
OVER = frozenset({"succeeded", "failed", "cancelled"})
OPEN = frozenset({"pending", "waiting"})
"""Station states that may start an update."""


class Tally:
    """The campaign's counts, kept as stations change state, so that a result or a
    pacing step looks at the stations that may start rather than at all of them."""

    def __init__(self, waves: int) -> None:
        self.states: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.waves: list[dict[str, int]] = [{} for _ in range(waves)]
        # Per wave, the stations that may start, by their place in the wave.
        self.open: list[dict[int, str]] = [{} for _ in range(waves)]

    def add(self, progress: StationProgress, place: int, station_id: str, sign: int = 1) -> None:
        """Count ``progress`` in (``sign`` 1) or out (-1)."""
        state = progress.state
        _bump(self.states, state, sign)
        _bump(self.waves[progress.wave], state, sign)
        if state == "failed" and progress.failure is not None:
            _bump(self.failures, progress.failure, sign)
        if state in OPEN:
            if sign > 0:
                self.open[progress.wave][place] = station_id
            else:
                self.open[progress.wave].pop(place, None)


def _bump(counts: dict[str, int], key: str, by: int) -> None:
    counts[key] = counts.get(key, 0) + by
    if not counts[key]:
        del counts[key]


@workflow.defn(name="FirmwareRollout", sandboxed=False)
class FirmwareRolloutWorkflow:
    """Runs the campaign until every wave is done, or it is aborted or cancelled."""

    def __init__(self) -> None:
        self._state = RUNNING
        self._reason: str | None = None
        self._stations: dict[str, StationProgress] = {}
        self._places: dict[str, int] = {}  # each station's place in its wave
        self._tally = Tally(0)
        self._targets: dict[str, Target] = {}
        self._waves: list[list[str]] = []
        self._released = 1
        self._soaked_at: datetime | None = None
        self._skipped: dict[str, str] = {}
        self._more_skipped = 0
        self._site_sizes: dict[str, int] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._dirty = False
        self._promote = False
        self._request: RolloutRequest | None = None
        self._stored: tuple[str, str | None] | None = None
        self._alert: str | None = None  # the station whose failure aborted the rollout

    @workflow.run
    async def run(self, request: RolloutRequest) -> RolloutProgress:
        """The campaign's final standing."""
        self._request = request
        settings = request.settings
        chosen: Targets = await workflow.execute_activity_method(
            FirmwareActivities.rollout_targets,
            RolloutTargets(
                request.rollout_id,
                TargetQuery(
                    request.image.image_id,
                    request.filter,
                    [image.image_id for image in request.other_images],
                ),
            ),
            start_to_close_timeout=DB_CALL,
            retry_policy=DB_RETRY,
        )
        self._skipped, self._more_skipped = chosen.skipped, chosen.more_skipped
        self._site_sizes = chosen.site_sizes
        cohorts = rollout_plan.cohorts(chosen.targets, settings)
        self._tally = Tally(len(cohorts))
        for index, wave in enumerate(cohorts):
            self._waves.append([t.station_id for t in wave])
            for place, target in enumerate(wave):
                progress = StationProgress(index, target.site_id)
                self._targets[target.station_id] = target
                self._stations[target.station_id] = progress
                self._places[target.station_id] = place
                self._tally.add(progress, place, target.station_id)
        if not self._stations:
            self._state, self._reason = COMPLETED, "no station to update"
        while self._state in (RUNNING, PAUSED):
            self._dirty = False
            if self._state == RUNNING:
                self._release_waves()
            if self._state == RUNNING:
                self._start_ready()
                if self._finished():
                    self._state = COMPLETED
                    break
            await self._set_state()
            wake = self._next_wake()
            # At least a second: a timer of zero would spin.
            timeout = None if wake is None else max(1.0, (wake - workflow.now()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._dirty, timeout=timeout)
        # Aborted or cancelled: nothing new starts; what was sent runs to its end.
        await workflow.wait_condition(lambda: not self._running)
        if self._state == CANCELLED:
            for station_id in [s for wave in self._tally.open for s in wave.values()]:
                self._mark(station_id, "cancelled")
        await self._set_state(final=True)
        return self.progress(True)

    # -- pacing ------------------------------------------------------------------

    def _mark(self, station_id: str, state: str, failure: str | EllipsisType | None = ...) -> None:
        """Move a station to ``state`` (and ``failure``; ``...`` keeps it), keeping the
        tally."""
        progress, place = self._stations[station_id], self._places[station_id]
        self._tally.add(progress, place, station_id, -1)
        progress.state = state
        if not isinstance(failure, EllipsisType):
            progress.failure = failure
        self._tally.add(progress, place, station_id)

    def _finished(self) -> bool:
        over = sum(self._tally.states.get(state, 0) for state in OVER)
        return (
            not self._running and over == len(self._stations) and self._released >= len(self._waves)
        )

    def _wave_counts(self, index: int) -> tuple[int, int, int]:
        """(succeeded, failed, not over) of wave ``index``."""
        counts = self._tally.waves[index]
        ok, failed = counts.get("succeeded", 0), counts.get("failed", 0)
        return ok, failed, len(self._waves[index]) - ok - failed - counts.get("cancelled", 0)

    def _release_waves(self) -> None:
        """Start the next wave once enough of the last one succeeded (after the soak,
        for the canary), or when an operator promoted it."""
        settings = self._settings
        while self._released < len(self._waves):
            last = self._released - 1
            ok, _, open_ = self._wave_counts(last)
            needed = max(1, round(settings.promote_share * len(self._waves[last])))
            ready = ok >= needed
            if ready and last == 0:
                if self._soaked_at is None:
                    self._soaked_at = workflow.now() + timedelta(seconds=settings.soak_s)
                ready = workflow.now() >= self._soaked_at
            if not (ready or self._promote):
                if open_ == 0 and ok < needed:
                    # The wave is over and too few succeeded (too few to abort, too):
                    # an operator decides (retry its failures, or promote).
                    self._state = PAUSED
                    self._reason = (
                        f"wave {last} ended with {ok} of {len(self._waves[last])} succeeded"
                        f" (the next wave needs {needed}): retry or promote"
                    )
                return
            self._promote = False
            self._released += 1

    def _start_ready(self) -> None:
        """Start the updates that may start now: released waves, inside their site's
        window, under the site's and the campaign's limits."""
        settings = self._settings
        now = workflow.now()
        per_site: dict[str | None, int] = {}
        for station_id in self._running:
            site = self._stations[station_id].site_id
            per_site[site] = per_site.get(site, 0) + 1
        windows: dict[str | None, tuple[bool, datetime | None]] = {}
        for index in range(min(self._released, len(self._waves))):
            # In the wave's own order: the stations that may start, nothing else.
            for _, station_id in sorted(self._tally.open[index].items()):
                if len(self._running) >= settings.max_in_flight:
                    return
                progress = self._stations[station_id]
                if progress.not_before is not None and now < progress.not_before:
                    continue
                site = progress.site_id
                if site not in windows:
                    windows[site] = rollout_plan.window_state(
                        self._windows_of(site), self._targets[station_id].time_zone, now
                    )
                inside, until = windows[site]
                if not inside:
                    self._mark(station_id, "waiting")
                    continue
                if site is not None and per_site.get(site, 0) >= rollout_plan.site_limit(
                    settings, self._site_sizes.get(site, 1)
                ):
                    self._mark(station_id, "waiting")
                    continue
                per_site[site] = per_site.get(site, 0) + 1
                self._start(station_id, until)

    def _windows_of(self, site: str | None) -> list[Window]:
        settings = self._settings
        if site is not None and site in settings.site_windows:
            return settings.site_windows[site]
        return settings.windows

    def _start(self, station_id: str, not_after: datetime | None) -> None:
        request = self._request
        assert request is not None
        progress = self._stations[station_id]
        self._mark(station_id, "updating")
        progress.attempts += 1
        image_id = self._targets[station_id].image_id
        image = next((i for i in request.other_images if i.image_id == image_id), request.image)
        child = FirmwareUpdateRequest(
            station_id=station_id,
            image=image,
            rollout_id=request.rollout_id,
            timeouts=request.settings.timeouts,
            not_after=not_after,
            ocpp_version=self._targets[station_id].ocpp_version,
            allow_new_sessions=request.settings.allow_new_sessions,
        )
        child_id = rollout_update_workflow_id(request.rollout_id, station_id, progress.attempts)
        self._running[station_id] = asyncio.create_task(self._update(child, child_id))

    async def _update(self, child: FirmwareUpdateRequest, child_id: str) -> None:
        progress = self._stations[child.station_id]
        try:
            result: FirmwareUpdateResult = await workflow.execute_child_workflow(
                FirmwareUpdateWorkflow.run,
                child,
                id=child_id,
                # A sent update goes on if the campaign is terminated: the station is
                # mid-install, and its workflow still records how it ends.
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"{child.station_id} to {child.image.version}",
            )
        except Exception as error:  # the child failed or was terminated
            result = FirmwareUpdateResult(
                child.station_id, "failed", FailureClass.TIMED_OUT, f"update workflow: {error}"
            )
        self._running.pop(child.station_id, None)
        self._apply(child.station_id, progress, result)
        self._dirty = True

    def _apply(
        self, station_id: str, progress: StationProgress, result: FirmwareUpdateResult
    ) -> None:
        settings = self._settings
        progress.version = result.version or progress.version
        progress.reason = result.reason
        if result.outcome == "deferred":
            progress.deferrals += 1
            if progress.deferrals > settings.max_deferrals:
                self._mark(station_id, "failed", FailureClass.REJECTED)
                progress.reason = f"deferred {progress.deferrals} times: {result.reason}"
            else:
                progress.not_before = workflow.now() + timedelta(seconds=settings.retry_deferred_s)
                self._mark(station_id, "pending")
        elif result.outcome == "succeeded":
            self._mark(station_id, "succeeded", None)
        elif result.outcome == "cancelled":
            self._mark(station_id, "cancelled")
        else:
            self._mark(station_id, "failed", result.failure)
        # Every result counts: failures early on may cross the line only once enough
        # stations have finished.
        if self._state in (RUNNING, PAUSED) and self._tally.failures:
            failures = self._failures()
            states = self._tally.states
            finished = states.get("succeeded", 0) + states.get("failed", 0)
            reason = rollout_plan.abort_reason(failures, finished, settings)
            if reason is not None:
                self._state, self._reason = ABORTED, reason
                self._alert = next(
                    (s for s, p in self._stations.items() if p.state == "failed"), None
                )
                workflow.logger.warning("rollout aborted: %s", reason)

    def _next_wake(self) -> datetime | None:
        """When pacing changes on its own: a window opens or closes, a soak ends, a
        deferred station may be tried again."""
        if self._state != RUNNING:
            return None
        now = workflow.now()
        moments: list[datetime] = []
        if self._soaked_at is not None and self._soaked_at > now:
            moments.append(self._soaked_at)
        sites: dict[str | None, str] = {}
        for index in range(min(self._released, len(self._waves))):
            for _, station_id in sorted(self._tally.open[index].items()):
                progress = self._stations[station_id]
                sites.setdefault(progress.site_id, self._targets[station_id].time_zone)
                if progress.not_before is not None and progress.not_before > now:
                    moments.append(progress.not_before)
        for site, zone in sites.items():
            _, change = rollout_plan.window_state(self._windows_of(site), zone, now)
            if change is not None:
                moments.append(change)
        return min(moments) if moments else None

    def _failures(self) -> dict[str, int]:
        return dict(self._tally.failures)

    @property
    def _settings(self) -> RolloutSettings:
        assert self._request is not None
        return self._request.settings

    async def _set_state(self, final: bool = False) -> None:
        """Details for the UI; the row when the state changed (not at every step)."""
        request = self._request
        assert request is not None
        self._details()
        if self._stored == (self._state, self._reason) and not final:
            return
        self._stored = (self._state, self._reason)
        await workflow.execute_local_activity_method(
            FirmwareActivities.set_rollout_state,
            RolloutState(request.rollout_id, self._state, self._reason, final, self._alert),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=DB_RETRY,
        )

    def _details(self) -> None:
        counts = self.progress(False).counts
        parts = " · ".join(f"{name} {count}" for name, count in sorted(counts.items()) if count)
        reason = f"\n\n{self._reason}" if self._reason else ""
        workflow.set_current_details(
            f"**{self._state}** · wave {self._released} of {len(self._waves)} · {parts}{reason}"
        )

    # -- operators ---------------------------------------------------------------

    @workflow.update
    async def pause(self, reason: str) -> RolloutProgress:
        """Start no new update until resumed (those under way go on)."""
        self._state, self._reason = PAUSED, reason or "paused by an operator"
        self._dirty = True
        return self.progress(False)

    @pause.validator
    def _pause_allowed(self, reason: str) -> None:
        self._refuse_unless(RUNNING, "pause")

    @workflow.update
    async def resume(self) -> RolloutProgress:
        """Go on where the campaign paused."""
        self._state, self._reason = RUNNING, None
        self._dirty = True
        return self.progress(False)

    @resume.validator
    def _resume_allowed(self) -> None:
        self._refuse_unless(PAUSED, "resume")

    @workflow.update
    async def cancel(self) -> RolloutProgress:
        """Stop the campaign: nothing new starts, updates not yet sent are called off."""
        self._state, self._reason = CANCELLED, "cancelled by an operator"
        # Children may end while the signals go out: iterate over a copy.
        for station_id in list(self._running):
            handle = workflow.get_external_workflow_handle(
                rollout_update_workflow_id(
                    self._request.rollout_id if self._request else "",
                    station_id,
                    self._stations[station_id].attempts,
                )
            )
            await handle.signal(FirmwareUpdateWorkflow.cancel)
        self._dirty = True
        return self.progress(False)

    @cancel.validator
    def _cancel_allowed(self) -> None:
        if self._state not in (RUNNING, PAUSED):
            raise ApplicationError(f"the rollout is {self._state}: nothing to cancel")

    @workflow.update
    async def retry(self, request: RetryRequest) -> RolloutProgress:
        """Try failed stations again (their next attempt is a new update workflow)."""
        for station_id in self._retryable(request):
            progress = self._stations[station_id]
            progress.not_before, progress.deferrals = None, 0
            self._mark(station_id, "pending", None)
        if self._state == PAUSED and self._reason and self._reason.startswith("wave "):
            self._state, self._reason = RUNNING, None
        self._dirty = True
        return self.progress(False)

    @retry.validator
    def _retry_allowed(self, request: RetryRequest) -> None:
        if self._state not in (RUNNING, PAUSED):
            raise ApplicationError(f"the rollout is {self._state}: start a new one")
        unknown = sorted(set(request.station_ids or ()) - set(self._stations))
        if unknown:
            raise ApplicationError(f"not in this rollout: {', '.join(unknown[:5])}")
        if not self._retryable(request):
            raise ApplicationError("no failed station to retry")

    def _retryable(self, request: RetryRequest) -> list[str]:
        wanted = request.station_ids or list(self._stations)
        return [s for s in wanted if self._stations[s].state == "failed"]

    @workflow.update
    async def promote(self) -> RolloutProgress:
        """Start the next wave now, without waiting for the last one's successes."""
        self._promote = True
        if self._state == PAUSED and self._reason and self._reason.startswith("wave "):
            self._state, self._reason = RUNNING, None
        self._dirty = True
        return self.progress(False)

    @promote.validator
    def _promote_allowed(self) -> None:
        if self._state not in (RUNNING, PAUSED):
            raise ApplicationError(f"the rollout is {self._state}")
        if self._released >= len(self._waves):
            raise ApplicationError("every wave has started already")

    def _refuse_unless(self, state: str, action: str) -> None:
        if self._state != state:
            raise ApplicationError(f"cannot {action}: the rollout is {self._state}")

    @workflow.query
    def progress(self, with_stations: bool = False) -> RolloutProgress:
        """Counts per station state and failure class, waves, and (asked) each station."""
        counts = dict(self._tally.states)
        waves = []
        for index, wave in enumerate(self._waves):
            ok, failed, _ = self._wave_counts(index)
            updating = self._tally.waves[index].get("updating", 0)
            waves.append(
                WaveProgress(index, len(wave), index < self._released, ok, failed, updating)
            )
        return RolloutProgress(
            rollout_id=self._request.rollout_id if self._request else "",
            state=self._state,
            reason=self._reason,
            counts=counts,
            failures=self._failures(),
            waves=waves,
            skipped=self._skipped,
            stations=dict(self._stations) if with_stations else None,
            more_skipped=self._more_skipped,
        )
