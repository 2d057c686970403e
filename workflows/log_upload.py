"""A diagnostics or log upload from request to file (``logs:{station}:{request}``)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.command_routing import send_command

with workflow.unsafe.imports_passed_through():
    from activities.log_uploads import LogUploadActivities, UploadStatus
    from activities.persistence.repositories.log_uploads import FINAL
    from workflows.commands import CommandReply, CommandRequest, UploadLogs
    from workflows.domain import LogUploadRequest

DB_CALL = timedelta(seconds=10)


# Unsandboxed like the other command workflows.
@workflow.defn(name="LogUpload", sandboxed=False)
class LogUploadWorkflow:
    """Sends GetDiagnostics / GetLog with an upload URL served by the API, then follows
    the charger's status notifications (signalled by the gateway) and the file's
    arrival (signalled by the API) until the upload is final or takes too long."""

    def __init__(self) -> None:
        self._status = "requested"
        self._reply: CommandReply | None = None
        self._error: ApplicationError | None = None

    @workflow.run
    async def run(self, request: LogUploadRequest) -> str:
        """The upload's final status: received, Uploaded, UploadFailed, rejected, ..."""
        self._details(request)
        await workflow.execute_local_activity_method(
            LogUploadActivities.record_log_upload, request, start_to_close_timeout=DB_CALL
        )
        command = UploadLogs(
            location=request.location,
            request_id=request.request_id,
            log_type=request.log_type,  # type: ignore[arg-type]
            since=request.since,
            until=request.until,
        )
        try:
            self._reply = await send_command(
                CommandRequest.of(
                    request.station_id, command, request.command_request_id, request.timeout_s
                )
            )
        except ApplicationError as error:
            self._error = error
        if self._reply is None or self._reply.status not in ("Accepted", "AcceptedCanceled"):
            await self._set(request, "rejected")
            return self._status
        await self._set(request, "accepted")
        try:
            await workflow.wait_condition(
                lambda: self._status in FINAL, timeout=timedelta(seconds=request.wait_s)
            )
        except TimeoutError:
            await self._set(request, "timed_out")
        return self._status

    async def _set(self, request: LogUploadRequest, status: str) -> None:
        self._status = await workflow.execute_local_activity_method(
            LogUploadActivities.set_log_upload_status,
            UploadStatus(workflow.info().workflow_id, status),
            start_to_close_timeout=DB_CALL,
        )
        self._details(request)

    def _details(self, request: LogUploadRequest) -> None:
        text = f"**{self._status}** · {request.log_type} of {request.station_id}"
        if self._error is not None:
            text += f" · {self._error.type}: {self._error.message}"
        workflow.set_current_details(text)

    @workflow.signal
    def progress(self, status: str) -> None:
        """A status the charger reported, or ``received`` when the file arrived (the
        row is already updated; this wakes the workflow)."""
        if self._status not in FINAL and status != "Idle":
            self._status = status

    @workflow.update
    async def upload_result(self) -> CommandReply:
        """The charger's answer to the upload request (fails as the command failed)."""
        await workflow.wait_condition(lambda: self._reply is not None or self._error is not None)
        if self._error is not None:
            raise self._error
        assert self._reply is not None
        return self._reply

    @workflow.query
    def status(self) -> str:
        """Where the upload stands."""
        return self._status
