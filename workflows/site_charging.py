"""Smart charging of one site (``site:{id}``): re-plans as vehicles come and go.

The workflow holds the vehicles present. A session starting or ending at the
site, a configuration change (limits, tariff) or EV charging needs reported by
a 2.x station mark the plan stale; after a short debounce (several events in a
burst cost one plan) and at least every 15 minutes, an activity solves the
site's LP with the energy each vehicle has already received (from the stored
meter samples) and returns the profiles; the workflow pushes them through each
station's gateway node and clears the profiles of vehicles that left. History
stays small: the workflow continues as new when Temporal suggests it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.command_routing import send_command

with workflow.unsafe.imports_passed_through():
    from activities.smart_charging import SmartChargingActivities
    from workflows.commands import ClearChargingProfile, CommandRequest
    from workflows.smart_charging import PlanRequest, PresentVehicle, SitePlan, SiteSessionEvent

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
#   tick; smart charging of the site does not end with it.


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
        self._plans_this_run = 0

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
            # Let a burst of arrivals settle into one plan.
            await workflow.sleep(DEBOUNCE)
            self._stale = False
            await self._plan_and_push()
            self._plans_this_run += 1
            if (
                self._plans_this_run >= state.plans_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                carried = list(self._left) if workflow.patched("left-carried") else []
                workflow.continue_as_new(
                    SiteState(
                        state.site_id,
                        list(self._present.values()),
                        self._state.plans,
                        state.plans_per_run,
                        left=carried,
                    )
                )
        await self._clear(list(self._present.values()))

    async def _plan_and_push(self) -> None:
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

    async def _clear(self, vehicles: list[PresentVehicle]) -> None:
        await asyncio.gather(
            *(
                self._send(
                    v.station_id,
                    # By criteria, not id: the planner's TxProfile on that EVSE (its
                    # transaction has ended, so no other TxProfile applies there).
                    ClearChargingProfile(evse_id=v.evse_id, purpose="TxProfile"),
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
        self._present[event.key] = PresentVehicle.of(event)
        self._stale = True

    @workflow.signal
    def vehicle_left(self, event: SiteSessionEvent) -> None:
        """A session ended: its profile is cleared with the next plan."""
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
    def config_changed(self) -> None:
        """Limits, chargers or tariff changed."""
        self._stale = True

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
        """The vehicles the workflow believes are present."""
        return list(self._present.values())
