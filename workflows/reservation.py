"""A reservation from request to use, cancellation or expiry (``reservation:{station}:{id}``)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.command_routing import send_command

with workflow.unsafe.imports_passed_through():
    from activities.reservations import ReservationActivities, StatusChange
    from workflows.commands import CancelReservation, CommandReply, CommandRequest, ReserveNow
    from workflows.domain import ReservationRequest

DB_CALL = timedelta(seconds=10)


# Unsandboxed like the other command workflows.
@workflow.defn(name="Reservation", sandboxed=False)
class ReservationWorkflow:
    """Sends ReserveNow, keeps the reservation's row current, and expires it on a
    durable timer (a worker restart in between changes nothing). The gateway marks
    it used when the reserved token starts charging, and refuses other tokens."""

    def __init__(self) -> None:
        self._status = "requested"
        self._reply: CommandReply | None = None
        self._error: ApplicationError | None = None
        self._cancel_requested = False
        self._cancel_reply: CommandReply | None = None
        self._cancel_error: ApplicationError | None = None
        self._ended_by_station: str | None = None

    @workflow.run
    async def run(self, request: ReservationRequest) -> str:
        """The reservation's final status: rejected, cancelled, used or expired."""
        self._details(request)
        await workflow.execute_local_activity_method(
            ReservationActivities.record_reservation, request, start_to_close_timeout=DB_CALL
        )
        command = ReserveNow(
            reservation_id=request.reservation_id,
            id_token=request.id_token,
            expires_at=request.expires_at,
            connector_id=request.connector_id,
            evse_id=request.evse_id,
            connector_type=request.connector_type,
            group_id_token=request.group_id_token,
        )
        try:
            self._reply = await send_command(
                CommandRequest.of(
                    request.station_id, command, request.request_id, request.timeout_s
                )
            )
        except ApplicationError as error:
            self._error = error
        if self._reply is None or self._reply.status != "Accepted":
            await self._move(request, "rejected", ["requested"])
            return self._status
        await self._move(request, "active", ["requested"])
        remaining = request.expires_at - workflow.now()
        try:
            await workflow.wait_condition(
                lambda: self._cancel_requested or self._ended_by_station is not None,
                timeout=max(remaining, timedelta(seconds=1)),
            )
        except TimeoutError:
            if not await self._move(request, "expired", ["active"]):
                self._status = "used"  # the gateway marked it while we waited
                self._details(request)
            return self._status
        if self._ended_by_station is not None:
            # Used by the holder's transaction, or expired / removed by the station:
            # the gateway already wrote it; nothing is left to wait for.
            self._status = self._ended_by_station
            self._details(request)
            return self._status
        await self._cancel(request)
        return self._status

    async def _cancel(self, request: ReservationRequest) -> None:
        try:
            self._cancel_reply = await send_command(
                CommandRequest.of(
                    request.station_id,
                    CancelReservation(reservation_id=request.reservation_id),
                    f"{request.request_id}-cancel",
                    request.timeout_s,
                )
            )
        except ApplicationError as error:
            self._cancel_error = error
            return
        if self._cancel_reply.status == "Accepted":
            await self._move(request, "cancelled", ["active"])

    async def _move(self, request: ReservationRequest, status: str, only_from: list[str]) -> bool:
        moved = await workflow.execute_local_activity_method(
            ReservationActivities.set_reservation_status,
            StatusChange(request.reservation_id, status, only_from),
            start_to_close_timeout=DB_CALL,
        )
        if moved:
            self._status = status
            self._details(request)
        return moved

    def _details(self, request: ReservationRequest) -> None:
        text = (
            f"**{self._status}** · {request.station_id} connector {request.connector_id} "
            f"until {request.expires_at:%Y-%m-%d %H:%M} UTC"
        )
        if self._error is not None:
            text += f" · {self._error.type}: {self._error.message}"
        workflow.set_current_details(text)

    @workflow.signal
    def ended(self, status: str) -> None:
        """The gateway saw the reservation end at the station (used, expired, removed)."""
        if self._status == "active" and not self._cancel_requested:
            self._ended_by_station = status

    @workflow.update
    async def reserve_result(self) -> CommandReply:
        """The charger's answer to ReserveNow (fails as the command failed)."""
        await workflow.wait_condition(lambda: self._reply is not None or self._error is not None)
        if self._error is not None:
            raise self._error
        assert self._reply is not None
        return self._reply

    @workflow.update
    async def cancel(self) -> CommandReply:
        """Send CancelReservation; the charger's answer."""
        self._cancel_requested = True
        await workflow.wait_condition(
            lambda: self._cancel_reply is not None or self._cancel_error is not None
        )
        if self._cancel_error is not None:
            raise self._cancel_error
        assert self._cancel_reply is not None
        return self._cancel_reply

    @cancel.validator
    def _only_active(self) -> None:
        if self._status != "active" or self._cancel_requested:
            raise ValueError(f"the reservation is {self._status}, not active")

    @workflow.query
    def status(self) -> str:
        """requested, active, rejected, cancelled, used or expired."""
        return self._status
