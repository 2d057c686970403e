"""Log uploads: requested by a workflow, progressed by the charger, completed by the file."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import LogUpload

# Statuses after which the charger sends nothing more about an upload.
FINAL = frozenset(
    {
        "rejected",
        "received",
        "Uploaded",
        "UploadFailed",
        "BadMessage",
        "NotSupportedOperation",
        "PermissionDenied",
        "AcceptedCanceled",
    }
)


async def get_by_workflow(session: AsyncSession, workflow_id: str) -> LogUpload | None:
    """The upload a workflow follows."""
    return await session.scalar(select(LogUpload).where(LogUpload.workflow_id == workflow_id))


async def get_by_token(session: AsyncSession, token: str) -> LogUpload | None:
    """The upload an upload URL belongs to."""
    return await session.scalar(select(LogUpload).where(LogUpload.token == token))


async def use_token(session: AsyncSession, token: str, now: datetime) -> LogUpload | None:
    """Take an upload URL's token for one upload: the upload, or None if the token is
    unknown, expired or already used. A conditional UPDATE, so two concurrent
    uploads with one token cannot both pass."""
    taken = await session.execute(
        update(LogUpload)
        .where(
            LogUpload.token == token,
            LogUpload.token_used_at.is_(None),
            LogUpload.token_expires_at > now,
        )
        .values(token_used_at=now)
    )
    if not taken.rowcount:  # type: ignore[attr-defined]
        return None
    return await get_by_token(session, token)


async def release_token(session: AsyncSession, upload_id: int) -> None:
    """An upload that failed part-way: the token may be used again (until it expires)."""
    await session.execute(
        update(LogUpload).where(LogUpload.id == upload_id).values(token_used_at=None)
    )


async def of_station(session: AsyncSession, station_id: str) -> Sequence[LogUpload]:
    """A station's uploads, newest first."""
    query = (
        select(LogUpload)
        .where(LogUpload.station_id == station_id)
        .order_by(LogUpload.requested_at.desc(), LogUpload.id.desc())
        .limit(200)
    )
    return (await session.scalars(query)).all()


async def charger_status(
    session: AsyncSession, station_id: str, request_id: int | None, status: str, at: datetime
) -> LogUpload | None:
    """Apply a status notification to the upload it is about: 2.x names its request
    id; a 1.6 DiagnosticsStatusNotification is about the latest unfinished one."""
    query = select(LogUpload).where(
        LogUpload.station_id == station_id, LogUpload.status.not_in(FINAL)
    )
    if request_id is not None:
        query = query.where(LogUpload.request_id == request_id)
    upload = await session.scalar(query.order_by(LogUpload.id.desc()).limit(1))
    if upload is not None and status != "Idle":
        upload.status, upload.updated_at = status, at
    return upload
