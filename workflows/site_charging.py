"""Smart charging of one site (``site:{id}``): re-plans as vehicles come and go.

A session starting or ending at the site, a configuration change (limits,
tariff) or EV charging needs reported by a 2.x station mark the plan stale (a
nudge: the signal's content is not the truth); after a short debounce (several
events in a burst cost one plan) and at least every 15 minutes, an activity
plans the site from the database: who is present (the site's active
transactions), what each has received (the stored meter samples) and needs, the
month's peak. It stores the plan's commands (profiles, and clears for cars that
left) per station and returns only the plan's number and stations; the
workflow asks the registry which gateway node holds each station and runs one
activity per node, which reads its stations' commands and sends them in order.
A plan for any number of vehicles keeps the history small; a plan that fails
is tried again at the next change or tick. The workflow continues as new when
Temporal suggests it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.command_routing import locate, send_command

with workflow.unsafe.imports_passed_through():
    from activities.smart_charging import SmartChargingActivities
    from optimizer.charging_profile import PLANNER_TX_STACK_LEVEL
    from workflows.commands import ClearChargingProfile, CommandRequest, gateway_task_queue
    from workflows.smart_charging import (
        DeliveryReport,
        PlanRequest,
        PresentVehicle,
        SiteDelivery,
        SitePlan,
        SitePlanOutcome,
        SitePlanRequest,
        SiteSessionEvent,
    )

REPLAN_EVERY = timedelta(minutes=15)
DEBOUNCE = timedelta(seconds=2)

# Patches, oldest first (a change to the commands the workflow issues is guarded, so
# histories recorded before it replay):
# - "left-by-transaction": a session's end removes its car only while that car is the
#   one present on its EVSE; a newer car whose start arrived first stays, and no
#   clear is sent to its EVSE;
# - "left-carried": cars that left and whose profiles are not cleared yet carry over
#   a continue-as-new;
# - "plan-failures-retried": a plan that fails is tried again at the next change or
#   tick; smart charging of the site does not end with it;
# - "derived-state": the plan is made from the database (plan_site_state), its
#   commands stay there, and each gateway node gets one activity for its stations
#   (site_commands); the vehicles named by signals no longer matter, and nothing of
#   them carries over a continue-as-new.
# - "plan-now": a utility's event (signal ``plan_now``) plans the site without the
#   debounce, so the chargers hold a new limit within a plan's time.


def site_workflow_id(site_id: str) -> str:
    """Business key of a site's smart-charging workflow."""
    return f"site:{site_id}"


@dataclass
class SiteState:
    """What carries over a continue-as-new."""

    site_id: str
    present: list[PresentVehicle] = field(default_factory=list)
    plans: int = 0
    # A run continues as new after this many plans (about a day of 15-minute
    # re-plans), or earlier when Temporal suggests it.
    plans_per_run: int = 100
    # Cars that left whose profiles the next plan clears.
    left: list[PresentVehicle] = field(default_factory=list)


# Unsandboxed like the other workflows: it only awaits timers and activities.
@workflow.defn(name="SiteCharging", sandboxed=False)
class SiteChargingWorkflow:
    """Keeps one site's charging plan current and its chargers' profiles in line with it."""

    @workflow.init
    def __init__(self, state: SiteState) -> None:
        self._state = state
        self._present = {v.key: v for v in state.present}
        self._stale = True
        self._left: list[PresentVehicle] = list(state.left)
        self._plan: SitePlan | None = None
        self._stopping = False
        self._urgent = False
        self._plans_this_run = 0
        # Decided once per run: a run that began before "derived-state" keeps the
        # vehicles the signals name until it continues as new.
        self._derived = workflow.patched("derived-state")
        # A run that continued as new has just planned: it waits for a change or the
        # tick (nothing was carried that a plan would need at once).
        if self._derived and state.plans > 0:
            self._stale = False
        self._planned_points: list[str] = []

    @workflow.run
    async def run(self, state: SiteState) -> None:
        """Plan, push, wait for a change or 15 minutes, again; until the site is switched off."""
        while not self._stopping:
            # Without a change, the periodic re-plan (with fresh telemetry).
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._stale or self._stopping, timeout=REPLAN_EVERY
                )
            if self._stopping:
                break
            # Let a burst of arrivals settle into one plan; a utility's limit does not wait.
            if not (self._urgent and workflow.patched("plan-now")):
                await workflow.sleep(DEBOUNCE)
            self._stale = self._urgent = False
            await self._plan_and_push()
            self._plans_this_run += 1
            if (
                self._plans_this_run >= state.plans_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                carried = list(self._left) if workflow.patched("left-carried") else []
                # Derived from the database at each plan: nothing of the vehicles to carry.
                present = [] if self._derived else list(self._present.values())
                workflow.continue_as_new(
                    SiteState(
                        state.site_id,
                        present,
                        self._state.plans,
                        state.plans_per_run,
                        left=[] if self._derived else carried,
                    )
                )
        if self._derived:
            await self._stop_from_state()
        else:
            await self._clear(list(self._present.values()))

    async def _plan_and_push(self) -> None:
        if self._derived:
            await self._plan_from_state()
            return
        left, self._left = self._left, []
        try:
            plan = await workflow.execute_activity_method(
                SmartChargingActivities.plan_site,
                PlanRequest(self._state.site_id, list(self._present.values()), workflow.now()),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError as error:
            if not workflow.patched("plan-failures-retried"):
                raise
            # The chargers keep their last profiles; the next change or tick plans again.
            self._left = left + self._left
            cause = error.cause or error
            workflow.logger.warning("site %s not planned: %s", self._state.site_id, cause)
            workflow.set_current_details(
                f"**plan failed** ({cause}); tried again at the next change or in 15 minutes"
            )
            return
        self._plan = plan
        self._state.plans += 1
        await asyncio.gather(*(self._deliver(r) for r in plan.requests), self._clear(left))
        workflow.set_current_details(plan.summary)

    async def _plan_from_state(self) -> None:
        try:
            outcome = await workflow.execute_activity_method(
                SmartChargingActivities.plan_site_state,
                SitePlanRequest(self._state.site_id, workflow.now()),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError as error:
            # The chargers keep their last profiles; the next change or tick plans again.
            cause = error.cause or error
            workflow.logger.warning("site %s not planned: %s", self._state.site_id, cause)
            workflow.set_current_details(
                f"**plan failed** ({cause}); tried again at the next change or in 15 minutes"
            )
            return
        self._state.plans += 1
        self._plan = None  # the plan is in the database (the API reads it there)
        self._planned_points = outcome.vehicles
        # Cars that left under the previous way of planning, not cleared yet.
        left, self._left = self._left, []
        await asyncio.gather(self._deliver_plan(outcome), self._clear(left))
        workflow.set_current_details(outcome.summary)

    async def _stop_from_state(self) -> None:
        """Smart charging switched off: clear every profile of the last plan."""
        try:
            outcome = await workflow.execute_activity_method(
                SmartChargingActivities.plan_site_state,
                SitePlanRequest(self._state.site_id, workflow.now(), stopping=True),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError as error:
            workflow.logger.warning("site %s not cleared: %s", self._state.site_id, error)
            return
        await self._deliver_plan(outcome)

    async def _deliver_plan(self, outcome: SitePlanOutcome) -> None:
        """One activity per gateway node, for the plan's stations that node holds."""
        if not outcome.stations:
            return
        nodes = await locate(outcome.stations)
        by_node: dict[str, list[str]] = {}
        for station_id in outcome.stations:
            node = nodes.get(station_id)
            if node is not None:  # offline: it keeps its last profile (or its default)
                by_node.setdefault(node, []).append(station_id)
        await asyncio.gather(
            *(self._deliver_node(node, stations, outcome) for node, stations in by_node.items())
        )

    async def _deliver_node(self, node: str, stations: list[str], outcome: SitePlanOutcome) -> None:
        try:
            report = await workflow.execute_activity(
                "site_commands",
                SiteDelivery(outcome.site_id, outcome.plan, stations),
                result_type=DeliveryReport,
                task_queue=gateway_task_queue(node),
                # A node that does not pick it up is gone; the next plan finds the
                # stations wherever they reconnected.
                schedule_to_start_timeout=timedelta(seconds=30),
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
        except ActivityError as error:
            workflow.logger.info("plan %s not delivered by %s: %s", outcome.plan, node, error)
            return
        if report.failed:
            workflow.logger.info(
                "plan %s: %d stations on %s not reached", outcome.plan, len(report.failed), node
            )

    async def _clear(self, vehicles: list[PresentVehicle]) -> None:
        await asyncio.gather(
            *(
                self._send(
                    v.station_id,
                    # By criteria, not id: the planner's TxProfile on that EVSE (its
                    # transaction has ended), on the planner's stack level only, so an
                    # operator's own profile there stays.
                    ClearChargingProfile(
                        evse_id=v.evse_id, purpose="TxProfile", stack_level=PLANNER_TX_STACK_LEVEL
                    ),
                    f"clear{self._state.plans}-{v.key}",
                )
                for v in vehicles
            )
        )

    async def _send(self, station_id: str, command: object, request_id: str) -> None:
        await self._deliver(CommandRequest.of(station_id, command, request_id, 30.0))

    @staticmethod
    async def _deliver(request: CommandRequest) -> None:
        try:
            await send_command(request)
        except ApplicationError as error:
            # An offline charger keeps its last profile (or its default); the next
            # plan tries again.
            workflow.logger.info("profile for %s not delivered: %s", request.station_id, error)

    @workflow.signal
    def vehicle_arrived(self, event: SiteSessionEvent) -> None:
        """A session started at the site."""
        self._stale = True
        if not self._derived:
            self._present[event.key] = PresentVehicle.of(event)

    @workflow.signal
    def vehicle_left(self, event: SiteSessionEvent) -> None:
        """A session ended: its profile is cleared with the next plan."""
        if self._derived:
            self._stale = True  # the next plan finds the transaction ended
            return
        present = self._present.get(event.key)
        if (
            present is not None
            and present.transaction_id != event.transaction_id
            and workflow.patched("left-by-transaction")
        ):
            # The next car's start arrived before this one's stop: it stays, and its
            # profile (the same id on this EVSE) has replaced the leaver's.
            return
        gone = self._present.pop(event.key, None)
        if gone is not None:
            self._left.append(gone)
        self._stale = True

    @workflow.signal
    def draw_changed(self) -> None:
        """A car stopped or started drawing (SuspendedEV, Charging): its capacity may
        go to the others, so plan again."""
        self._stale = True

    @workflow.signal
    def config_changed(self) -> None:
        """Limits, chargers or tariff changed."""
        self._stale = True

    @workflow.signal
    def plan_now(self) -> None:
        """A utility's event changed what the site may draw: plan again at once, without
        the debounce."""
        self._stale = self._urgent = True

    @workflow.signal
    def switch_off(self) -> None:
        """Smart charging disabled for the site: clear the profiles and end."""
        self._stopping = True

    @workflow.query
    def schedule(self) -> SitePlan | None:
        """The current plan (the next hours per vehicle, totals, limits)."""
        return self._plan

    @workflow.query
    def plans(self) -> int:
        """How many plans the site has had (across continue-as-new)."""
        return self._state.plans

    @workflow.query
    def vehicles(self) -> list[PresentVehicle]:
        """The vehicles the signals named (before "derived-state": those it planned)."""
        return list(self._present.values())

    @workflow.query
    def planned_points(self) -> list[str]:
        """The charging points ("station#evse") the last plan from the database covered."""
        return self._planned_points
