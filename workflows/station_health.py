"""A station's health as a long-running process (``station:{id}``).

The gateway's outbox signals it lifecycle facts only (a fault appears or clears,
a boot, a liveness change, a problem event, a telemetry symptom the gateway saw);
never heartbeats or meter samples, so a healthy station costs a handful of
history events a day. The workflow

- judges liveness: a station disconnected or silent for ``offline_after_s`` is
  offline (a quick reconnect is not), and an incident after
  ``offline_incident_after_s``;
- classifies each fault with the rule table (built-in mapping plus operators'
  rules, read by a local activity) and walks the class's playbook on durable
  timers: trigger a status, soft reset when idle, hard reset, out of use, an
  incident; a station is reset at most ``max_resets_per_day`` times, and the
  playbook stops as soon as the fault clears;
- spots patterns: a reboot loop, a fault that flaps (one incident, no more
  remediation until it settles);
- says what it is doing in its current details, and continues as new with its
  state well before its history grows long.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

from workflows.command_routing import send_command

with workflow.unsafe.imports_passed_through():
    from activities.firmware import FirmwareActivities
    from activities.health import HealthActivities
    from workflows import search_attributes as sa
    from workflows.alert_delivery import AlertDeliveryWorkflow, alert_workflow_id
    from workflows.commands import (
        ChangeAvailability,
        CommandRequest,
        Reset,
        TriggerMessage,
    )
    from workflows.device_commands import SetVariableMonitoring
    from workflows.health import (
        HEALTH_MONITORS,
        PLAYBOOKS,
        ActiveFault,
        FactKind,
        FaultClass,
        FaultReport,
        FaultView,
        HealthInput,
        HealthRecord,
        HealthState,
        HealthView,
        IncidentNote,
        IncidentOpening,
        IncidentOutcome,
        Liveness,
        Severity,
        StationFact,
        Step,
        is_fault_status,
    )

DB_CALL = timedelta(seconds=10)
DB_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=10))
COMMAND_TIMEOUT_S = 30.0
DAY = timedelta(days=1)
EXPECTED_BOOT = timedelta(minutes=15)
"""A boot within this time of a remediation reset is the reset's, not a fault's."""
UP = frozenset({Liveness.CONNECTED, Liveness.BOOTING, Liveness.ONLINE})
SILENT_KEY = "symptom:Silent@0/0"
"""The fault of a station that is connected but says nothing."""


@workflow.defn(name="StationHealth", sandboxed=False)
class StationHealthWorkflow:
    """Watches one station: liveness, faults, remediation, incidents."""

    def __init__(self) -> None:
        self._inbox: list[StationFact] = []
        self._station = ""
        self._state = HealthState()

    @workflow.signal
    def fact(self, fact: StationFact) -> None:
        """A lifecycle fact from the gateway (at-least-once: repeats are harmless)."""
        self._inbox.append(fact)

    @workflow.query
    def health(self) -> HealthView:
        """What the workflow knows and is doing now."""
        return self._view()

    @workflow.run
    async def run(self, request: HealthInput) -> None:
        """Runs until the station is deleted (then the API terminates it)."""
        self._station = request.station_id
        settings = request.settings
        if request.state is not None:
            self._state = request.state
        while True:
            self._details()
            with contextlib.suppress(TimeoutError):  # a step or a deadline is due
                await workflow.wait_condition(lambda: bool(self._inbox), timeout=self._next_wait())
            while self._inbox:
                fact = self._inbox.pop(0)
                self._state.facts_seen += 1
                await self._take(fact, request)
            await self._due(request)
            info = workflow.info()
            if not self._inbox and (
                info.is_continue_as_new_suggested()
                or info.get_current_history_length() > settings.history_limit
            ):
                workflow.continue_as_new(replace(request, state=self._state))

    # -- facts ---------------------------------------------------------------

    async def _take(self, fact: StationFact, request: HealthInput) -> None:
        state = self._state
        key = f"boot@{fact.at.isoformat()}" if fact.kind is FactKind.BOOT else fact.fault_key()
        newest = state.seen_at.get(key)
        if newest is not None and (fact.at < newest or fact.kind is FactKind.BOOT):
            return  # late or repeated: a newer fact of the same thing was taken
        state.seen_at[key] = fact.at
        if len(state.seen_at) > 200:
            # Bounded: boots and old keys go first (they only guard against repeats).
            for old in sorted(state.seen_at, key=lambda k: state.seen_at[k])[:100]:
                del state.seen_at[old]
        if fact.firmware_version is not None:
            state.firmware_version = fact.firmware_version
        if fact.ocpp_version is not None:
            state.ocpp_version = fact.ocpp_version
        if fact.kind is FactKind.LIVENESS:
            await self._liveness(fact, request)
        elif fact.kind is FactKind.BOOT:
            await self._boot(fact, request)
        elif fact.kind is FactKind.STATUS:
            if is_fault_status(fact.state, fact.error_code):
                await self._fault(fact, fact.error_code or fact.state, request)
            else:
                await self._cleared(fact.fault_key(), f"connector reports {fact.state}")
        elif fact.cleared:
            await self._cleared(fact.fault_key(), f"{fact.state} cleared")
        else:
            await self._fault(fact, fact.tech_code or fact.state, request)

    async def _liveness(self, fact: StationFact, request: HealthInput) -> None:
        state, now = self._state, workflow.now()
        liveness = Liveness(fact.state)
        state.liveness, state.liveness_since, state.liveness_cause = (
            liveness,
            fact.at,
            fact.cause,
        )
        settings = request.settings
        if liveness in UP:
            state.offline_due = state.offline_incident_due = None
            if state.offline:
                state.offline = False
                await self._record("station is back online")
            if state.offline_incident_id is not None:
                await self._note(state.offline_incident_id, "station is back online", True)
                state.offline_incident_id = None
            await self._cleared(SILENT_KEY, f"station is {liveness.value}")
            return
        if state.offline_due is None and not state.offline:
            state.offline_due = now + timedelta(seconds=settings.offline_after_s)
            state.last_action = (
                f"{liveness.value} ({fact.cause or 'no cause given'}): offline unless it "
                f"is back by {state.offline_due:%H:%M:%S}"
            )
        if liveness is Liveness.SILENT:
            # Socket up, station mute: the communication playbook may wake it.
            silent = replace(fact, kind=FactKind.SYMPTOM, state="Silent", evse_id=0, connector_id=0)
            await self._fault(silent, "Silent", request)

    async def _boot(self, fact: StationFact, request: HealthInput) -> None:
        state, settings = self._state, request.settings
        now = workflow.now()
        if state.expected_boot_until is not None and now <= state.expected_boot_until:
            state.expected_boot_until = None
            state.last_action = "booted after the reset"
            await self._monitors(request)
            return
        state.last_action = f"booted (firmware {state.firmware_version or 'unknown'})"
        window = timedelta(seconds=settings.boot_window_s)
        state.boots = [b for b in state.boots if now - b < window] + [now]
        if len(state.boots) >= settings.boot_limit:
            looping = replace(
                fact, kind=FactKind.SYMPTOM, state="RebootLoop", evse_id=0, lasting=False
            )
            state.boots = []
            await self._fault(looping, "RebootLoop", request)
        await self._monitors(request)

    async def _monitors(self, request: HealthInput) -> None:
        """2.x: set the monitors health needs (problems, tripped contactor, heat), once,
        and again when the station's firmware changes (it may have forgotten them)."""
        state = self._state
        if not request.settings.set_monitors or not (state.ocpp_version or "").startswith("2"):
            return
        if state.monitors_set and state.monitors_firmware == state.firmware_version:
            return
        notes: list[str] = []
        sent = await self._command(
            notes,
            "monitors set",
            SetVariableMonitoring(list(HEALTH_MONITORS)),
        )
        state.monitors_set, state.monitors_firmware = True, state.firmware_version
        state.last_action = notes[-1] if notes else "monitors set"
        if not sent:
            workflow.logger.info("%s: %s", self._station, state.last_action)

    async def _fault(self, fact: StationFact, code: str, request: HealthInput) -> None:
        state, now = self._state, workflow.now()
        key = fact.fault_key()
        known = state.faults.get(key)
        if known is not None and known.code == code:
            return  # a repeat: already being worked on
        classification = await workflow.execute_local_activity_method(
            HealthActivities.classify_fault,
            FaultReport(
                station_id=self._station,
                kind=fact.kind,
                state=fact.state,
                error_code=code,
                vendor_error_code=fact.vendor_error_code,
                tech_code=fact.tech_code,
                severity=fact.severity,
            ),
            start_to_close_timeout=DB_CALL,
            retry_policy=DB_RETRY,
        )
        window = timedelta(seconds=request.settings.flap_window_s)
        opened = [t for t in state.openings.get(key, []) if now - t < window] + [now]
        state.openings[key] = opened
        fault = ActiveFault(
            key=key,
            evse_id=fact.evse_id,
            connector_id=fact.connector_id,
            kind=fact.kind,
            code=code,
            since=fact.at,
            fault_class=classification.fault_class,
            severity=classification.severity,
            title=classification.title,
            playbook=classification.playbook,
            rule=classification.rule,
            vendor_error_code=fact.vendor_error_code,
            lasting=fact.lasting,
            due_at=now,
        )
        if known is not None:
            # A new code on a fault already open: keep what was tried and its incident.
            fault.tried, fault.incident_id = known.tried, known.incident_id
        state.faults[key] = fault
        if len(opened) >= request.settings.flap_limit:
            fault.flapping, fault.due_at = True, None
            fault.tried.append(f"flapping: opened {len(opened)} times within {window}")
            await self._escalate(fault, "the fault keeps coming back (flapping)")
        state.last_action = f"{fault.title}: classified {fault.fault_class.value}"
        await self._record(f"{fault.title} ({code})")

    async def _cleared(self, key: str, why: str) -> None:
        fault = self._state.faults.get(key)
        if fault is None:
            return
        if fault.flapping:
            # Still flapping: the incident stays open; a calm window ends it.
            fault.due_at = None
            fault.tried.append(f"{why} at {workflow.now():%H:%M:%S}")
            del self._state.faults[key]
            if fault.incident_id is not None:
                await self._note(fault.incident_id, f"{why} (flapping: left open)", False)
            await self._record(why)
            return
        del self._state.faults[key]
        self._state.last_action = f"{fault.title}: {why}"
        if fault.incident_id is not None:
            await self._note(fault.incident_id, why, True)
        await self._record(why)

    # -- timers --------------------------------------------------------------

    def _next_wait(self) -> timedelta | None:
        now = workflow.now()
        dues = [f.due_at for f in self._state.faults.values() if f.due_at is not None]
        dues += [
            d for d in (self._state.offline_due, self._state.offline_incident_due) if d is not None
        ]
        if not dues:
            return None
        return max(timedelta(0), min(dues) - now)

    async def _due(self, request: HealthInput) -> None:
        state, now = self._state, workflow.now()
        settings = request.settings
        if state.offline_due is not None and now >= state.offline_due:
            state.offline, state.offline_due = True, None
            state.offline_incident_due = now + timedelta(seconds=settings.offline_incident_after_s)
            state.last_action = f"offline since {state.liveness_since:%H:%M:%S}"
            await self._record(f"offline: {state.liveness_cause or 'no connection'}")
        if state.offline_incident_due is not None and now >= state.offline_incident_due:
            state.offline_incident_due = None
            opened = await self._open_incident(
                IncidentOpening(
                    station_id=self._station,
                    key="offline",
                    title="Station offline",
                    severity=Severity.MAJOR,
                    fault_class=FaultClass.COMMUNICATION,
                    code=state.liveness_cause or "offline",
                    evse_id=0,
                    connector_id=0,
                    since=state.liveness_since or now,
                    tried=[],
                    reason=f"offline for more than {settings.offline_incident_after_s:.0f} s",
                    workflow_id=workflow.info().workflow_id,
                )
            )
            state.offline_incident_id = opened.incident_id
        for key in sorted(self._state.faults):
            fault = self._state.faults.get(key)
            if fault is None or fault.due_at is None or fault.due_at > workflow.now():
                continue
            await self._step(fault, request)

    async def _step(self, fault: ActiveFault, request: HealthInput) -> None:
        """Run the fault's next playbook step, and set when the one after is due."""
        steps = PLAYBOOKS.get(fault.playbook, PLAYBOOKS["escalate"])
        now = workflow.now()
        if fault.step >= len(steps):
            self._done(fault)
            return
        current = steps[fault.step]
        settings = request.settings
        if current.step in (Step.SOFT_RESET, Step.HARD_RESET):
            done = await self._reset(fault, current.step, request)
            if done is None:  # waiting for the station's sessions to end
                fault.due_at = now + timedelta(seconds=settings.idle_poll_s)
                return
        elif current.step is Step.TRIGGER_STATUS:
            await self._command(
                fault.tried,
                "asked for its status",
                TriggerMessage(
                    "StatusNotification",
                    evse_id=fault.evse_id or None,
                    connector_id=fault.connector_id or None,
                ),
            )
        elif current.step is Step.TRIGGER_HEARTBEAT:
            await self._command(fault.tried, "asked for a heartbeat", TriggerMessage("Heartbeat"))
        elif current.step is Step.INOPERATIVE:
            await self._command(
                fault.tried,
                "set out of use (Inoperative)",
                ChangeAvailability(
                    operative=False,
                    evse_id=fault.evse_id or None,
                    connector_id=fault.connector_id or None,
                ),
            )
        elif current.step is Step.WAIT:
            fault.tried.append(f"waited {current.wait_s:.0f} s for it to clear")
        elif current.step is Step.ESCALATE:
            await self._escalate(fault, "remediation did not clear it")
        if fault.key not in self._state.faults:
            return  # cleared while the step ran
        fault.step += 1
        self._state.last_action = f"{fault.title}: {fault.tried[-1] if fault.tried else 'waiting'}"
        if fault.step < len(steps):
            fault.due_at = workflow.now() + timedelta(seconds=current.wait_s)
        else:
            self._done(fault)

    def _done(self, fault: ActiveFault) -> None:
        """The playbook is through: a lasting fault waits to clear; a one-off (security
        event, reboot loop) is let go, its incident left to an operator."""
        fault.due_at = None
        if not fault.lasting:
            self._state.faults.pop(fault.key, None)

    async def _reset(self, fault: ActiveFault, step: Step, request: HealthInput) -> bool | None:
        """Reset the station if it is idle and within its budget: True if sent, False if
        skipped, None while waiting for its sessions to end."""
        state, now, settings = self._state, workflow.now(), request.settings
        kind: Literal["soft", "hard"] = "soft" if step is Step.SOFT_RESET else "hard"
        state.resets = [r for r in state.resets if now - r < DAY]
        if len(state.resets) >= settings.max_resets_per_day:
            fault.tried.append(
                f"{kind} reset skipped: {len(state.resets)} resets in the last day "
                f"(limit {settings.max_resets_per_day})"
            )
            fault.idle_since_wait = None
            return False
        busy = await workflow.execute_local_activity_method(
            FirmwareActivities.station_busy,
            self._station,
            start_to_close_timeout=DB_CALL,
            retry_policy=DB_RETRY,
        )
        if busy:
            if fault.idle_since_wait is None:
                fault.idle_since_wait = now
            if now - fault.idle_since_wait < timedelta(seconds=settings.idle_wait_s):
                state.last_action = f"{fault.title}: {kind} reset waits for sessions to end"
                return None
            fault.tried.append(f"{kind} reset skipped: sessions still running")
            fault.idle_since_wait = None
            return False
        fault.idle_since_wait = None
        sent = await self._command(fault.tried, f"{kind} reset", Reset(kind=kind))
        if sent:
            state.resets.append(now)
            state.expected_boot_until = now + EXPECTED_BOOT
        return sent

    async def _command(self, notes: list[str], what: str, command: object) -> bool:
        """Send a command; what happened goes on ``notes`` (a fault's list of tries)."""
        request = CommandRequest.of(
            self._station,
            command,
            f"health-{workflow.uuid4()}",
            timeout_s=COMMAND_TIMEOUT_S,
        )
        try:
            reply = await send_command(request)
        except ApplicationError as error:
            notes.append(f"{what}: not sent ({error.message})")
            return False
        notes.append(f"{what}: {reply.status or 'answered'}")
        return reply.status in (None, "Accepted", "Scheduled")

    async def _escalate(self, fault: ActiveFault, reason: str) -> None:
        if fault.incident_id is not None:
            await self._note(fault.incident_id, reason, False)
            return
        opened = await self._open_incident(
            IncidentOpening(
                station_id=self._station,
                key=fault.key,
                title=fault.title,
                severity=fault.severity,
                fault_class=fault.fault_class,
                code=fault.code,
                evse_id=fault.evse_id,
                connector_id=fault.connector_id,
                since=fault.since,
                tried=list(fault.tried),
                reason=reason,
                workflow_id=workflow.info().workflow_id,
            )
        )
        fault.incident_id = opened.incident_id
        fault.tried.append(f"incident {opened.incident_id} opened: {reason}")

    # -- incidents and alerts ------------------------------------------------

    async def _open_incident(self, opening: IncidentOpening) -> IncidentOutcome:
        outcome = await workflow.execute_activity_method(
            HealthActivities.open_incident,
            opening,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY,
        )
        await self._alert(outcome)
        return outcome

    async def _note(self, incident_id: str, text: str, resolve: bool) -> None:
        outcome = await workflow.execute_local_activity_method(
            HealthActivities.note_incident,
            IncidentNote(incident_id, workflow.now(), text, resolve),
            start_to_close_timeout=DB_CALL,
            retry_policy=DB_RETRY,
        )
        await self._alert(outcome)

    async def _alert(self, outcome: IncidentOutcome) -> None:
        """Start each alert's delivery; it outlives this run (continue-as-new too)."""
        for delivery_id in outcome.deliveries:
            await workflow.start_child_workflow(
                AlertDeliveryWorkflow.run,
                delivery_id,
                id=alert_workflow_id(delivery_id),
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"Alert {delivery_id} for {self._station}",
            )

    # -- what operators see --------------------------------------------------

    def _judged(self) -> str:
        state = self._state
        if state.offline:
            return "offline"
        if state.facts_seen == 0:
            return "unknown"
        if any(f.severity in (Severity.MAJOR, Severity.CRITICAL) for f in state.faults.values()):
            return "faulted"
        if state.faults or state.liveness is Liveness.SILENT:
            return "degraded"
        return "healthy"

    async def _record(self, reason: str) -> None:
        health = self._judged()
        workflow.upsert_search_attributes([sa.STATE.value_set(health)])
        await workflow.execute_local_activity_method(
            HealthActivities.record_health,
            HealthRecord(
                self._station,
                health,
                workflow.now(),
                reason,
                sorted(f"{f.title} ({f.code})" for f in self._state.faults.values()),
            ),
            start_to_close_timeout=DB_CALL,
            retry_policy=DB_RETRY,
        )

    def _view(self) -> HealthView:
        state, now = self._state, workflow.now()
        views = []
        for fault in sorted(state.faults.values(), key=lambda f: f.key):
            steps = PLAYBOOKS.get(fault.playbook, ())
            views.append(
                FaultView(
                    key=fault.key,
                    code=fault.code,
                    fault_class=fault.fault_class.value,
                    severity=fault.severity.value,
                    title=fault.title,
                    since=fault.since,
                    evse_id=fault.evse_id,
                    connector_id=fault.connector_id,
                    next_step=steps[fault.step].step.value if fault.step < len(steps) else None,
                    due_at=fault.due_at,
                    tried=list(fault.tried),
                    flapping=fault.flapping,
                    incident_id=fault.incident_id,
                )
            )
        return HealthView(
            station_id=self._station,
            health=self._judged(),
            liveness=state.liveness.value if state.liveness else None,
            liveness_since=state.liveness_since,
            liveness_cause=state.liveness_cause,
            faults=views,
            resets_today=sum(1 for r in state.resets if now - r < DAY),
            last_action=state.last_action,
            facts_seen=state.facts_seen,
        )

    def _details(self) -> None:
        view = self._view()
        lines = [
            f"**{view.health}** · liveness {view.liveness or 'unknown'}"
            + (f" since {_hm(view.liveness_since)}" if view.liveness_since else "")
            + (f" ({view.liveness_cause})" if view.liveness_cause else ""),
            f"Doing: {view.last_action}",
        ]
        for fault in view.faults:
            nxt = (
                f"next: {fault.next_step} at {_hm(fault.due_at)}"
                if fault.due_at and fault.next_step
                else "no step left"
            )
            lines.append(
                f"- {fault.title} [{fault.fault_class}/{fault.severity}] on "
                f"{fault.evse_id}/{fault.connector_id}: {nxt}; tried: "
                + ("; ".join(fault.tried) or "nothing yet")
            )
        lines.append(f"Resets in the last day: {view.resets_today}")
        workflow.set_current_details("\n".join(lines))


def _hm(at: datetime | None) -> str:
    return "?" if at is None else f"{at:%Y-%m-%d %H:%M:%S}Z"
