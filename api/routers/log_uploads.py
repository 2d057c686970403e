"""Diagnostics and log uploads: requested as workflows, received at an upload URL.

Chargers cannot present API keys, so each upload gets a URL with its own secret
token (``/uploads/{token}/``); the charger sends the file there with HTTP PUT or
POST (the raw body is the file).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import update
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.service import RPCError

from activities.persistence.database import Database
from activities.persistence.models import LogUpload
from activities.persistence.repositories import log_uploads, stations
from api.auth import Operator, Viewer
from api.commands import (
    DISPATCH_S,
    command_error,
    no_worker,
    reachable_node,
    temporal_client,
    temporal_unavailable,
)
from api.deps import Session
from api.errors import not_found
from api.schemas import UtcDateTime
from workflows import search_attributes as sa
from workflows.commands import CommandReply
from workflows.domain import LogUploadRequest, log_upload_workflow_id
from workflows.log_upload import LogUploadWorkflow

router = APIRouter(prefix="/stations/{station_id}/log-uploads", tags=["log uploads"])
public = APIRouter(prefix="/uploads", tags=["log uploads"])

MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class LogUploadIn(BaseModel):
    """Which log, and optionally which period."""

    log_type: Literal["DiagnosticsLog", "SecurityLog"] = "DiagnosticsLog"
    since: UtcDateTime | None = None
    until: UtcDateTime | None = None


class LogUploadOut(BaseModel):
    """An upload as stored (the token is never shown)."""

    model_config = ConfigDict(from_attributes=True)

    request_id: int
    station_id: str
    log_type: str
    status: str
    workflow_id: str
    file_name: str | None
    size_bytes: int | None
    requested_at: datetime
    updated_at: datetime


class LogUploadReply(BaseModel):
    """The charger's answer and the upload's workflow."""

    request_id: int
    workflow_id: str
    reply: CommandReply
    location: str = Field(description="where the charger was told to upload")


@router.post("")
async def request_upload(
    station_id: str, body: LogUploadIn, request: Request, session: Session, _: Operator
) -> LogUploadReply:
    """Ask the station to upload; follow it at ``GET /stations/{id}/log-uploads``."""
    await reachable_node(session, station_id)
    state = request.app.state
    request_id = secrets.randbelow(2**31 - 2) + 1
    token = secrets.token_urlsafe(24)
    location = f"{state.public_url.rstrip('/')}/uploads/{token}/"
    workflow_id = log_upload_workflow_id(station_id, request_id)
    operation = WithStartWorkflowOperation(
        LogUploadWorkflow.run,
        LogUploadRequest(
            station_id=station_id,
            request_id=request_id,
            token=token,
            location=location,
            command_request_id=uuid.uuid4().hex,
            log_type=body.log_type,
            since=body.since,
            until=body.until,
        ),
        id=workflow_id,
        task_queue=state.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.STATION_ID, station_id)]),
        static_summary=f"{body.log_type} upload from {station_id}",
    )
    client = await temporal_client(state.temporal)
    try:
        # Bounded: with no worker running the operator hears so, instead of waiting.
        async with asyncio.timeout(DISPATCH_S + 32):
            reply: CommandReply = await client.execute_update_with_start_workflow(
                LogUploadWorkflow.upload_result, start_workflow_operation=operation
            )
    except WorkflowUpdateFailedError as exc:
        raise command_error(exc) from None
    except TimeoutError:
        raise no_worker() from None
    except RPCError as exc:
        raise temporal_unavailable(exc) from None
    return LogUploadReply(
        request_id=request_id, workflow_id=workflow_id, reply=reply, location=location
    )


@router.get("")
async def list_uploads(station_id: str, session: Session, _: Viewer) -> list[LogUploadOut]:
    """The station's uploads, newest first."""
    if await stations.get_station(session, station_id) is None:
        raise not_found("station", station_id)
    rows = await log_uploads.of_station(session, station_id)
    return [LogUploadOut.model_validate(r) for r in rows]


@router.get("/{request_id}/file")
async def download(station_id: str, request_id: int, session: Session, _: Viewer) -> FileResponse:
    """The uploaded file."""
    rows = await log_uploads.of_station(session, station_id)
    upload = next((r for r in rows if r.request_id == request_id), None)
    if upload is None or upload.stored_path is None:
        raise not_found("uploaded file of request", request_id)
    return FileResponse(upload.stored_path, filename=upload.file_name or "upload.bin")


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._")
    return cleaned[:120] or "upload.bin"


@public.api_route("/{token}", methods=["PUT", "POST"], include_in_schema=False)
@public.api_route("/{token}/", methods=["PUT", "POST"], include_in_schema=False)
@public.post("/{token}/{file_name}", include_in_schema=False)
@public.put("/{token}/{file_name}", operation_id="upload_log_file")
async def receive(token: str, request: Request, file_name: str = "") -> dict[str, int]:
    """Where chargers upload (no API key: the token in the URL is the credential, good
    for one upload until it expires)."""
    db: Database = request.app.state.db
    # No database connection is held while the file streams in (up to 200 MB): read,
    # close, receive, then write in a fresh transaction.
    async with db.sessions.begin() as session:
        upload = await log_uploads.use_token(session, token, datetime.now(UTC))
        if upload is None:
            known = await log_uploads.get_by_token(session, token)
            if known is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown upload")
            raise HTTPException(status.HTTP_410_GONE, "this upload URL was used or has expired")
        upload_id, station_id = upload.id, upload.station_id
        request_id, log_type, workflow_id = upload.request_id, upload.log_type, upload.workflow_id
    folder: Path = request.app.state.upload_dir / station_id
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    name = _safe_name(file_name or f"{log_type}.bin")
    path = folder / f"{request_id}-{name}"
    size = 0
    # File I/O in a worker thread: a slow disk must not stall the event loop.
    out = await asyncio.to_thread(path.open, "wb")
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise HTTPException(
                    status.HTTP_413_CONTENT_TOO_LARGE,
                    f"uploads are limited to {MAX_UPLOAD_BYTES} bytes",
                )
            await asyncio.to_thread(out.write, chunk)
    except BaseException:
        await asyncio.to_thread(out.close)
        await asyncio.to_thread(path.unlink, True)
        async with db.sessions.begin() as session:
            await log_uploads.release_token(session, upload_id)
        raise
    await asyncio.to_thread(out.close)
    async with db.sessions.begin() as session:
        await session.execute(
            update(LogUpload)
            .where(LogUpload.id == upload_id)
            .values(
                file_name=name,
                size_bytes=size,
                stored_path=str(path),
                status="received",
                updated_at=datetime.now(UTC),
            )
        )
    try:
        client = await request.app.state.temporal.client()
        await client.get_workflow_handle(workflow_id).signal(LogUploadWorkflow.progress, "received")
    except Exception:  # the row says received; the workflow would end at its timeout
        pass
    return {"size_bytes": size}
