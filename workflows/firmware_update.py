"""One station's firmware update, from request to the boot on the new version
(``firmware:{station}``, or ``rollout:{id}:{station}:{attempt}`` in a campaign).

The workflow waits until the station has no session (bounded; a 2.x station told
AllowNewSessionsPendingFirmwareUpdate=false drains itself instead), sends
UpdateFirmware, follows the charger's status notifications (signalled by the
gateway, which keeps them on the update's row) through every status of each
OCPP version with a timeout per step, and succeeds only when the station boots
reporting the image's version. A station that comes back on its old version
after installing has failed; one that never comes back has too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.command_routing import send_command

with workflow.unsafe.imports_passed_through():
    from activities.firmware import UPDATE_UNDER_WAY, FirmwareActivities
    from workflows.commands import (
        ChangeConfiguration,
        CommandFailure,
        CommandRequest,
        UpdateFirmware,
    )
    from workflows.firmware import (
        ALLOW_NEW_SESSIONS,
        COMMAND_FAILED,
        DOWNLOADED,
        FAILED,
        INSTALLED,
        INSTALLING,
        FailureClass,
        FirmwareUpdateRequest,
        FirmwareUpdateResult,
        UpdateEnd,
        UpdateRecord,
        speaks_2x,
    )

DB_CALL = timedelta(seconds=10)
DB_RETRY = RetryPolicy(maximum_attempts=5)
BUSY_POLL = (60, 120, 240, 480, 900)
"""Seconds between looks at a busy station's sessions (then every 15 minutes)."""
PICKUP = timedelta(seconds=30)
"""How long a gateway node may take to pick an update up: a node busy with a wave of
them is no reason to defer a station for a retry later (a gone node still shows)."""
STEP_TIMER = "step-timer"
"""Patch: one timer per step of the update (histories before it have one per status)."""
SETTING_ACCEPTED = frozenset({"Accepted", "RebootRequired"})


@workflow.defn(name="FirmwareUpdate", sandboxed=False)
class FirmwareUpdateWorkflow:
    """Sends the update, follows it to the station's boot on the new version."""

    def __init__(self) -> None:
        self._status = "requested"
        self._charger: list[str] = []
        self._booted: list[str | None] = []
        self._cancelled = False
        self._checked = 0  # statuses looked at for failures
        self._setting: str | None = None  # AllowNewSessionsPendingFirmwareUpdate's answer

    @workflow.run
    async def run(self, request: FirmwareUpdateRequest) -> FirmwareUpdateResult:
        """The update's outcome (its row holds the same)."""
        try:
            request_id = await workflow.execute_local_activity_method(
                FirmwareActivities.record_firmware_update,
                UpdateRecord(request, workflow.info().workflow_id),
                start_to_close_timeout=DB_CALL,
                retry_policy=DB_RETRY,
            )
        except ActivityError as error:
            cause = error.cause
            if not isinstance(cause, ApplicationError) or cause.type != UPDATE_UNDER_WAY:
                raise
            # Another update holds the station: a campaign tries again later.
            self._status = "deferred" if request.rollout_id else FailureClass.REJECTED
            self._details(request)
            return FirmwareUpdateResult(
                request.station_id,
                "deferred" if request.rollout_id else "failed",
                None if request.rollout_id else FailureClass.REJECTED,
                cause.message,
            )
        result = await self._update(request, request_id)
        await workflow.execute_local_activity_method(
            FirmwareActivities.end_firmware_update,
            UpdateEnd(request_id, result),
            start_to_close_timeout=DB_CALL,
            retry_policy=DB_RETRY,
        )
        self._status = result.outcome if result.failure is None else result.failure
        self._details(request)
        return result

    async def _update(
        self, request: FirmwareUpdateRequest, request_id: int
    ) -> FirmwareUpdateResult:
        station, image, steps = request.station_id, request.image, request.timeouts

        def result(
            outcome: str, failure: str | None = None, reason: str | None = None
        ) -> FirmwareUpdateResult:
            version = self._booted[-1] if self._booted else None
            return FirmwareUpdateResult(station, outcome, failure, reason, version, request_id)

        drains = False
        if (
            request.allow_new_sessions is not None
            and speaks_2x(request.ocpp_version)
            and workflow.patched("allow-new-sessions")
        ):
            drains = await self._allow_new_sessions(request, request_id)
        if not drains:
            idle = await self._wait_idle(request)
            if idle is not None:
                return result(*idle)
        if self._cancelled:
            return result("cancelled", reason="cancelled before it was sent")
        self._set(request, "sending")
        command = UpdateFirmware(
            location=image.location,
            request_id=request_id,
            retries=steps.retries,
            retry_interval_s=steps.retry_interval_s,
            signature=image.signature,
            signing_certificate=image.signing_certificate,
        )
        try:
            reply = await send_command(
                CommandRequest.of(station, command, f"fw-{request_id}", steps.command_s),
                pickup=PICKUP,
            )
        except ApplicationError as error:
            offline = error.type == CommandFailure.STATION_OFFLINE
            return result(
                "deferred" if offline and request.rollout_id else "failed",
                None if offline and request.rollout_id else FailureClass.REJECTED,
                f"{error.type}: {error.message}",
            )
        if reply.status in COMMAND_FAILED:
            return result(
                "failed", COMMAND_FAILED[reply.status], f"charger answered {reply.status}"
            )
        if reply.status not in ("Accepted", "AcceptedCanceled"):
            return result("failed", FailureClass.REJECTED, f"charger answered {reply.status}")
        self._set(request, "sent")
        # Step by step: each ends with a status of the next step, a failure, or a boot.
        for step, done, seconds in (
            ("download", DOWNLOADED, steps.download_s),
            # A draining station installs once its sessions end: that wait is the install's.
            ("install", INSTALLED, steps.install_s + (steps.idle_wait_s if drains else 0)),
            ("reboot", frozenset[str](), steps.boot_s),
        ):
            if step != "reboot" and any(s in done for s in self._charger):
                continue
            ended = await self._follow(request, done, timedelta(seconds=seconds))
            if ended is not None:
                if ended[1] == FailureClass.TIMED_OUT and await self._on_target(request):
                    return result("succeeded")
                return result(*ended)
            if self._booted:
                break
        version = self._booted[-1] if self._booted else None
        if version is None:
            if await self._on_target(request):
                return result("succeeded")
            if self._charger and self._charger[-1] in INSTALLED:
                return result("failed", FailureClass.DID_NOT_COME_BACK, "no boot after the install")
            return result("failed", FailureClass.TIMED_OUT, self._stalled_at())
        if version == image.version:
            return result("succeeded")
        return result("failed", FailureClass.INSTALL_FAILED, f"came back on version {version!r}")

    async def _allow_new_sessions(self, request: FirmwareUpdateRequest, request_id: int) -> bool:
        """Set the 2.x station's AllowNewSessionsPendingFirmwareUpdate as asked; whether
        the station now drains itself (it refuses new sessions and installs once the
        running ones end), so the CSMS need not wait for it to be idle."""
        allow = bool(request.allow_new_sessions)
        setting = ChangeConfiguration(key=ALLOW_NEW_SESSIONS, value="true" if allow else "false")
        try:
            reply = await send_command(
                CommandRequest.of(
                    request.station_id,
                    setting,
                    f"fw-{request_id}-sessions",
                    request.timeouts.command_s,
                ),
                pickup=PICKUP,
            )
        except ApplicationError as error:
            # Not fatal: the update itself finds out whether the station is reachable.
            self._setting = f"{error.type}"
            return False
        self._setting = reply.status
        return not allow and reply.status in SETTING_ACCEPTED

    async def _on_target(self, request: FirmwareUpdateRequest) -> bool:
        """Whether the station row reports the image's version (a boot's wake-up may
        have been lost: the row has the truth)."""
        version = await workflow.execute_local_activity_method(
            FirmwareActivities.station_firmware_version,
            request.station_id,
            start_to_close_timeout=DB_CALL,
            retry_policy=DB_RETRY,
        )
        if version != request.image.version:
            return False
        self._booted.append(version)
        return True

    async def _wait_idle(
        self, request: FirmwareUpdateRequest
    ) -> tuple[str, str | None, str] | None:
        """Wait (bounded) until no session runs on the station; what ends the update
        instead, if anything."""
        waited, polls = 0, 0
        while not self._cancelled:
            busy = await workflow.execute_local_activity_method(
                FirmwareActivities.station_busy,
                request.station_id,
                start_to_close_timeout=DB_CALL,
                retry_policy=DB_RETRY,
            )
            if not busy:
                return None
            if waited == 0:
                self._set(request, "waiting_for_session")
            pause = BUSY_POLL[min(polls, len(BUSY_POLL) - 1)]
            polls += 1
            if (
                request.not_after is not None
                and workflow.now() + timedelta(seconds=pause) > request.not_after
            ):
                return ("deferred", None, "a session outlasted the maintenance window")
            if waited + pause > request.timeouts.idle_wait_s:
                return ("failed", FailureClass.BUSY, "a session kept the station busy")
            try:
                await workflow.wait_condition(lambda: self._cancelled, timeout=pause)
            except TimeoutError:
                waited += pause
        return None

    async def _follow(
        self, request: FirmwareUpdateRequest, done: frozenset[str], limit: timedelta
    ) -> tuple[str, str | None, str] | None:
        """Follow statuses until one in ``done``, a boot, or a failure (returned);
        None also when the step's time is up (the caller decides what that means)."""
        deadline = workflow.now() + limit
        # One timer for the step rather than one per status: a status then costs its
        # signal and a workflow task, not a timer cancelled and another started too.
        timer = (
            asyncio.ensure_future(asyncio.sleep(limit.total_seconds()))
            if workflow.patched(STEP_TIMER)
            else None
        )
        try:
            while True:
                for status in self._charger[self._checked :]:
                    if status in FAILED:
                        return ("failed", FAILED[status], f"charger reported {status}")
                self._checked = len(self._charger)
                if self._booted:
                    version = self._booted[-1]
                    if version == request.image.version or any(
                        s in INSTALLING for s in self._charger
                    ):
                        return None
                    # A reboot before the install began (the download goes on after it).
                    self._booted.clear()
                if any(s in done for s in self._charger):
                    return None
                left = (deadline - workflow.now()).total_seconds()
                if left <= 0 or (timer is not None and timer.done()):
                    if done:
                        return ("failed", FailureClass.TIMED_OUT, self._stalled_at())
                    return None
                if timer is None:
                    with contextlib.suppress(TimeoutError):
                        await workflow.wait_condition(self._news(), timeout=left)
                else:
                    await workflow.wait_condition(self._news(timer))
        finally:
            if timer is not None:
                timer.cancel()

    def _news(self, timer: asyncio.Future[None] | None = None) -> Callable[[], bool]:
        """A condition that holds once a status or a boot arrives after now (or
        ``timer`` has fired)."""
        marks = (len(self._charger), len(self._booted))
        return lambda: (
            (len(self._charger), len(self._booted)) != marks
            or bool(timer is not None and timer.done())
        )

    def _stalled_at(self) -> str:
        last = self._charger[-1] if self._charger else "no status"
        return f"no progress after {last}"

    def _set(self, request: FirmwareUpdateRequest, status: str) -> None:
        self._status = status
        self._details(request)

    def _details(self, request: FirmwareUpdateRequest) -> None:
        charger = f" · charger: {self._charger[-1]}" if self._charger else ""
        if self._setting is not None:
            charger += (
                f" · new sessions while pending: {request.allow_new_sessions} ({self._setting})"
            )
        workflow.set_current_details(
            f"**{self._status}** · {request.station_id} to {request.image.version}"
            f" ({request.image.image_id}){charger}"
        )

    @workflow.signal
    def progress(self, status: str) -> None:
        """A status the charger reported (already on the update's row)."""
        self._charger.append(status)
        if status != "Idle":
            self._status = status

    @workflow.signal
    def booted(self, version: str | None) -> None:
        """The station booted, reporting ``version``."""
        self._booted.append(version)

    @workflow.signal
    def cancel(self) -> None:
        """Do not send the update if it is not sent yet (a sent one cannot be called back)."""
        self._cancelled = True

    @workflow.query
    def status(self) -> str:
        """Where the update stands."""
        return self._status
