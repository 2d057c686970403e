"""A utility's demand-response event as a durable process (``dr:{event}``).

Every plan of a targeted site already keeps to the event (the site's planning
reads it from the database), and its profiles carry the limits of future slots;
this workflow makes the sites plan again at the moments that matter, on durable
timers, so a restart of every process in between changes nothing: a ramp before
the first interval (fresh telemetry, profiles in place before the limit
starts), the start and each interval boundary, and the end (limits lifted, the
normal plan restored). Then, recovering, it waits for the meters' readings past
the end (a quarter hour at most) and writes the report. A change of the event
(new intervals or targets) or its cancellation wakes the sites at once. The
phase is in the Temporal UI's current details.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.command_routing import locate, send_batch
from workflows.webhooks import WebhookDeliveryWorkflow, WebhookRequest, webhook_workflow_id

with workflow.unsafe.imports_passed_through():
    from activities.baselines import BaselineActivities, BaselineRequest
    from activities.compliance import ComplianceActivities, LiveRequest
    from activities.demand_response import DemandResponseActivities, PlainSiteRequest
    from activities.webhooks import WebhookActivities
    from workflows.commands import CommandRequest

RAMP = timedelta(minutes=5)
"""How long before the first interval the sites plan again."""
SETTLE_AT_MOST = timedelta(minutes=15)
"""How long after the end the report waits for the meters' last readings."""
SETTLE_POLL = timedelta(seconds=30)
LIVE_EVERY = timedelta(minutes=5)
"""How often, while the event is active, the compliance so far is measured."""


def dr_workflow_id(event_id: str) -> str:
    """Business key of an event's workflow."""
    return f"dr:{event_id}"


@dataclass(frozen=True)
class DrSchedule:
    """When an event's limits change, and which sites it targets."""

    event_id: str
    sites: list[str]
    # Every interval start and end, sorted: the first is the event's start, the last its end.
    boundaries: list[datetime]
    ramp_s: float = RAMP.total_seconds()

    def moments(self) -> list[datetime]:
        """When the sites plan again: the ramp, the start, each boundary, the end."""
        if not self.boundaries:
            return []
        ramp = self.boundaries[0] - timedelta(seconds=self.ramp_s)
        return sorted({ramp, *self.boundaries})


@dataclass
class DrProgress:
    """What the workflow has done, for queries."""

    phase: str = "scheduled"
    nudges: int = 0
    sites: list[str] = field(default_factory=list)
    report_id: str | None = None
    live: str | None = None  # the compliance so far, while active


# Unsandboxed like the other workflows: it only awaits timers and signals.
@workflow.defn(name="DemandResponseEvent", sandboxed=False)
class DemandResponseWorkflow:
    """Wakes the targeted sites' planning at the event's ramp, boundaries and end."""

    @workflow.init
    def __init__(self, schedule: DrSchedule) -> None:
        self._schedule = schedule
        self._changed = False
        self._cancelled = False
        self._progress = DrProgress(sites=list(schedule.sites))
        self._done: set[datetime] = set()
        self._baselined: set[str] = set()

    @workflow.run
    async def run(self, schedule: DrSchedule) -> str:
        """Until the event ends (then its report is written: "reported") or is
        cancelled ("cancelled")."""
        while not self._cancelled:
            now = workflow.now()
            upcoming = [m for m in self._schedule.moments() if m not in self._done]
            if not upcoming:
                break
            moment = upcoming[0]
            self._details(now, moment)
            if moment > now:
                wait = moment - now
                # While active, the compliance so far every LIVE_EVERY, for the UI.
                live = self._progress.phase == "active" and workflow.patched("live-compliance")
                if live:
                    wait = min(wait, LIVE_EVERY)
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._changed or self._cancelled, timeout=wait
                    )
                if live and not (self._changed or self._cancelled) and workflow.now() < moment:
                    await self._live()
                    continue
            if self._changed:
                self._changed = False
                # Moments passed while the event changed are not made up for: the
                # sites plan now with the new intervals.
                self._done = {m for m in self._schedule.moments() if m <= workflow.now()}
                await self._nudge()
                continue
            if self._cancelled:
                break
            self._done.add(moment)
            await self._nudge()
        if self._cancelled:
            await self._nudge()
            self._progress.phase = "cancelled"
        else:
            if workflow.patched("report-settles"):
                await self._settle()
            # What the sites drew against what was asked, for the utility to read.
            self._progress.report_id = await workflow.execute_activity_method(
                ComplianceActivities.report_event,
                self._schedule.event_id,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RetryPolicy(maximum_attempts=10),
            )
            self._progress.phase = "reported"
            if self._progress.report_id is not None and workflow.patched("report-webhooks"):
                await self._announce(self._progress.report_id)
        workflow.set_current_details(f"**{self._progress.phase}** · {self._sites_text()}")
        return self._progress.phase

    async def _settle(self) -> None:
        """Recovering: until every session of the targeted sites has a meter reading
        at or past the event's end (or has stopped), at most :data:`SETTLE_AT_MOST`,
        so that the report's last interval is measured rather than estimated."""
        self._progress.phase = "recovering"
        end = self._schedule.boundaries[-1] if self._schedule.boundaries else workflow.now()
        deadline = end + SETTLE_AT_MOST
        while True:
            complete = await workflow.execute_activity_method(
                ComplianceActivities.readings_complete,
                self._schedule.event_id,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=RetryPolicy(maximum_attempts=5),
            )
            now = workflow.now()
            if complete or now >= deadline:
                return
            workflow.set_current_details(
                f"**recovering** · waiting for meter readings past {end:%H:%M:%S} UTC "
                f"(at the latest until {deadline:%H:%M:%S}) · {self._sites_text()}"
            )
            await workflow.sleep(min(SETTLE_POLL, deadline - now))

    async def _announce(self, report_id: str) -> None:
        """Subscribers to reports hear that this one is ready (each call its own
        workflow, left running when this one ends)."""
        ids = await workflow.execute_activity_method(
            WebhookActivities.queue_report_notifications,
            report_id,
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_attempts=10),
        )
        for ident in ids:
            with contextlib.suppress(WorkflowAlreadyStartedError):
                await workflow.start_child_workflow(
                    WebhookDeliveryWorkflow.run,
                    WebhookRequest(ident),
                    id=webhook_workflow_id(ident),
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    static_summary=f"Webhook delivery {ident}",
                )

    async def _nudge(self) -> None:
        """Every targeted smart-charged site plans again; at a site without smart
        charging, the station maximum profiles that hold the cap in force now are set
        (or lifted where none applies). Then each site the event reaches for the
        first time gets its baseline, what it would draw without the event (after the
        nudge, not before it: the planner leaves the event out of it anyway, and the
        chargers' new profiles should not wait for it)."""

        # "plan_now" plans the site without its debounce (sites' workflows since then).
        signal = "plan_now" if workflow.patched("plan-now-nudge") else "config_changed"

        async def one(site_id: str) -> None:
            handle = workflow.get_external_workflow_handle(f"site:{site_id}")
            with contextlib.suppress(Exception):
                await handle.signal(signal)

        await asyncio.gather(*(one(s) for s in self._progress.sites), self._hold_plain_sites())
        self._progress.nudges += 1
        fresh = [s for s in self._progress.sites if s not in self._baselined]
        if fresh and not self._cancelled and workflow.patched("baselines"):
            await workflow.execute_activity_method(
                BaselineActivities.record_baselines,
                BaselineRequest(self._schedule.event_id, fresh, workflow.now()),
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RetryPolicy(maximum_attempts=5),
            )
            self._baselined.update(fresh)

    async def _hold_plain_sites(self) -> None:
        commands = await workflow.execute_activity_method(
            DemandResponseActivities.plain_site_commands,
            PlainSiteRequest(self._schedule.event_id, self._progress.sites, workflow.now()),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
        if not commands:
            return
        nodes = await locate(sorted({c.station_id for c in commands}))
        by_node: dict[str, list[CommandRequest]] = {}
        for command in commands:
            node = nodes.get(command.station_id)
            if node is not None:  # offline: the next moment tries again
                by_node.setdefault(node, []).append(command)
        await asyncio.gather(*(send_batch(batch, node) for node, batch in by_node.items()))

    async def _live(self) -> None:
        """The compliance so far (each site's demand in the current interval against
        its limit, and the intervals ended within theirs), into the current details."""
        self._progress.live = await workflow.execute_activity_method(
            ComplianceActivities.compliance_so_far,
            LiveRequest(self._schedule.event_id, self._progress.sites, workflow.now()),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )

    def _details(self, now: datetime, moment: datetime) -> None:
        start, end = self._schedule.boundaries[0], self._schedule.boundaries[-1]
        if now < start - timedelta(seconds=self._schedule.ramp_s):
            phase = "scheduled"
        elif now < start:
            phase = "ramping"
        elif now < end:
            phase = "active"
        else:
            phase = "recovering"
        self._progress.phase = phase
        live = f" · {self._progress.live}" if phase == "active" and self._progress.live else ""
        workflow.set_current_details(
            f"**{phase}** · {start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC · {self._sites_text()} · "
            f"sites plan again at {moment:%Y-%m-%d %H:%M:%S} UTC{live}"
        )

    def _sites_text(self) -> str:
        sites = self._progress.sites
        return f"{len(sites)} sites" if len(sites) > 5 else "sites " + ", ".join(sites)

    @workflow.signal
    def changed(self, schedule: DrSchedule) -> None:
        """The utility changed the event: its new intervals and targets (the sites of
        both the old and the new targets plan again)."""
        self._progress.sites = sorted(set(self._progress.sites) | set(schedule.sites))
        self._schedule = schedule
        self._changed = True

    @workflow.signal
    def cancelled(self) -> None:
        """The utility cancelled the event: the sites plan without it, now."""
        self._cancelled = True

    @workflow.update
    def change(self, schedule: DrSchedule) -> str:
        """The utility changed the event (as :meth:`changed`, validated and answered):
        the phase the change found."""
        self.changed(schedule)
        return self._progress.phase

    @change.validator
    def _check_change(self, schedule: DrSchedule) -> None:
        if schedule.event_id != self._schedule.event_id:
            raise ValueError(f"a schedule of event {schedule.event_id}, not of this one")
        if not schedule.boundaries or schedule.boundaries != sorted(schedule.boundaries):
            raise ValueError("a schedule needs its boundaries, in order")
        self._open("changed")

    @workflow.update
    def cancel(self) -> str:
        """The utility cancelled the event (as :meth:`cancelled`, validated and
        answered): the phase the cancellation found."""
        self.cancelled()
        return self._progress.phase

    @cancel.validator
    def _check_cancel(self) -> None:
        self._open("cancelled")

    def _open(self, what: str) -> None:
        """Refuse (before anything is written to the history) a change to an event
        that is over or cancelled."""
        if self._cancelled:
            raise ValueError(f"the event was cancelled: it cannot be {what}")
        if self._progress.phase in ("recovering", "reported"):
            raise ValueError(f"the event is over ({self._progress.phase}): it cannot be {what}")

    @workflow.query
    def progress(self) -> DrProgress:
        """The phase, how many times the sites were woken, which sites."""
        return self._progress
