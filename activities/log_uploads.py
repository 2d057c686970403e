"""Activities of the log-upload workflow: the upload's row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio import activity

from activities.persistence.database import Database
from activities.persistence.models import LogUpload
from activities.persistence.repositories import log_uploads
from workflows.domain import LogUploadRequest


@dataclass(frozen=True)
class UploadStatus:
    """Set the upload's status (unless it already reached a final one)."""

    workflow_id: str
    status: str


class LogUploadActivities:
    """Log-upload rows, bound to a database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn(name="record_log_upload")
    async def record_log_upload(self, request: LogUploadRequest) -> None:
        """Store the requested upload (idempotent: the token is unique)."""
        workflow_id = activity.info().workflow_id or ""
        async with self._db.sessions.begin() as session:
            if await log_uploads.get_by_workflow(session, workflow_id) is None:
                session.add(
                    LogUpload(
                        station_id=request.station_id,
                        request_id=request.request_id,
                        log_type=request.log_type,
                        token=request.token,
                        # The charger may upload while the workflow waits for the file.
                        token_expires_at=datetime.now(UTC)
                        + timedelta(seconds=request.timeout_s + request.wait_s),
                        status="requested",
                        workflow_id=workflow_id,
                    )
                )

    @activity.defn(name="set_log_upload_status")
    async def set_log_upload_status(self, change: UploadStatus) -> str:
        """Apply ``change`` unless the upload is final already; the status it now has."""
        async with self._db.sessions.begin() as session:
            upload = await log_uploads.get_by_workflow(session, change.workflow_id)
            if upload is None:
                return "unknown"
            if upload.status not in log_uploads.FINAL:
                upload.status = change.status
            return upload.status
