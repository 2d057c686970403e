"""Firmware: the image catalogue, which stations are behind, one station's update, and
campaigns (``/rollouts``) that operators start, watch, pause, resume, cancel, retry
and promote. Each update is a ``FirmwareUpdate`` workflow, each campaign a
``FirmwareRollout`` workflow; the Temporal UI shows the same."""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.firmware import TargetError, choose_targets
from activities.persistence.models import FirmwareImage, FirmwareRolloutRow, Station
from activities.persistence.repositories import firmware
from api.auth import Operator, Viewer
from api.commands import temporal_client, temporal_unavailable
from api.deps import Session
from api.errors import conflict, not_found, unprocessable
from workflows import rollout_plan
from workflows import search_attributes as sa
from workflows.firmware import (
    DEFAULT_ABORT,
    FirmwareImageRef,
    FirmwareUpdateRequest,
    RetryRequest,
    RolloutProgress,
    RolloutRequest,
    RolloutSettings,
    StepTimeouts,
    TargetFilter,
    TargetQuery,
    Window,
    firmware_update_workflow_id,
    rollout_workflow_id,
)
from workflows.firmware_rollout import FirmwareRolloutWorkflow
from workflows.firmware_update import FirmwareUpdateWorkflow

router = APIRouter(tags=["firmware"])

Ident = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_SCHEMES = ("http://", "https://", "ftp://", "ftps://", "sftp://")


class ImageIn(BaseModel):
    """A firmware image for the catalogue."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    vendor: str = Field(min_length=1, max_length=50)
    models: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(min_length=1)
    version: str = Field(min_length=1, max_length=50)
    location: str = Field(min_length=1, max_length=512, description="where chargers download it")
    sha256: str = Field(min_length=64, max_length=64)
    md5: str | None = Field(None, min_length=32, max_length=32)
    signature: str | None = Field(None, max_length=800, description="base64")
    signing_certificate: str | None = Field(None, max_length=5500, description="PEM")
    release_notes: str | None = Field(None, max_length=20000)
    recommended: bool = False

    @field_validator("sha256", "md5")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not _HEX.match(value):
            raise ValueError("must be hexadecimal")
        return None if value is None else value.lower()

    @field_validator("location")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(_SCHEMES):
            raise ValueError(f"must be a URL ({', '.join(s[:-3] for s in _SCHEMES)})")
        return value


class ImageOut(BaseModel):
    """A catalogue image."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    vendor: str
    models: list[str]
    version: str
    location: str
    sha256: str
    md5: str | None
    signed: bool
    release_notes: str | None
    recommended: bool
    created_at: datetime

    @classmethod
    def of(cls, image: FirmwareImage) -> ImageOut:
        """The image as served (its signature and certificate stay in the catalogue)."""
        return cls(
            id=image.id,
            vendor=image.vendor,
            models=image.models,
            version=image.version,
            location=image.location,
            sha256=image.sha256,
            md5=image.md5,
            signed=image.signature is not None,
            release_notes=image.release_notes,
            recommended=image.recommended,
            created_at=image.created_at,
        )


class ImageChange(BaseModel):
    """Mark an image recommended for its models (or not)."""

    recommended: bool


class ModelStandingOut(BaseModel):
    """One vendor's model: its recommended version and the stations not on it."""

    vendor: str
    model: str
    recommended_image: str | None
    recommended_version: str | None
    stations: int
    outdated: list[dict[str, str | None]]


class TimeoutsIn(BaseModel):
    """Per-step limits of each station's update (seconds)."""

    idle_wait_s: int = Field(4 * 3600, ge=0, le=7 * 86400)
    download_s: int = Field(3600, ge=10, le=7 * 86400)
    install_s: int = Field(1800, ge=10, le=86400)
    boot_s: int = Field(900, ge=10, le=86400)
    retries: int | None = Field(3, ge=0, le=100)
    retry_interval_s: int | None = Field(60, ge=0, le=86400)

    def steps(self) -> StepTimeouts:
        """As the workflow takes them."""
        return StepTimeouts(**self.model_dump())


ALLOW_NEW_SESSIONS_DOC = (
    "2.x stations' AllowNewSessionsPendingFirmwareUpdate, set before the update."
    " false: the station refuses new sessions and installs once the running ones"
    " end (the update goes out at once); true or unset: the CSMS waits until the"
    " station has no session. Unset leaves the station's own setting."
)


class UpdateIn(BaseModel):
    """Update one station to a catalogue image."""

    image_id: str = Field(min_length=1, max_length=64)
    timeouts: TimeoutsIn = Field(default_factory=TimeoutsIn)
    allow_new_sessions: bool | None = Field(None, description=ALLOW_NEW_SESSIONS_DOC)


class UpdateStarted(BaseModel):
    """The update's workflow (its status: ``GET /stations/{id}/firmware``)."""

    workflow_id: str
    station_id: str
    image_id: str
    version: str


class WindowIn(BaseModel):
    """A maintenance window in each site's own time zone."""

    start: str = Field(pattern=r"^\d{2}:\d{2}$", examples=["01:00"])
    end: str = Field(pattern=r"^\d{2}:\d{2}$", examples=["05:00"])
    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        default_factory=list, description="0 = Monday; empty: every day"
    )


class FilterIn(BaseModel):
    """Which stations; every filter given must hold (none: all that the image fits)."""

    station_ids: list[Annotated[str, Field(max_length=64)]] | None = Field(None, max_length=100000)
    site_ids: list[Annotated[str, Field(max_length=64)]] | None = Field(None, max_length=10000)
    vendor: str | None = Field(None, max_length=50)
    model: str | None = Field(None, max_length=50)
    current_version: str | None = Field(None, max_length=50)


class RolloutIn(BaseModel):
    """A campaign: an image, its targets and its pacing."""

    id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    image_id: str = Field(min_length=1, max_length=64)
    other_image_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=50,
        description=(
            "images for other vendors and models (a multi-vendor campaign): each station"
            " gets the image made for its vendor and model, the canary holds at least one"
            " station per image, and the abort criteria count every image's failures"
        ),
    )
    targets: FilterIn = Field(default_factory=FilterIn)
    canary_count: int | None = Field(None, ge=1, le=100000)
    canary_share: float | None = Field(None, gt=0, le=1)
    soak_s: int = Field(3600, ge=0, le=30 * 86400)
    growth_factor: float = Field(2.0, gt=1, le=100)
    promote_share: float = Field(0.9, gt=0, le=1)
    abort_shares: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: dict(DEFAULT_ABORT)
    )
    abort_min_stations: int = Field(5, ge=1, le=100000)
    max_site_share: float = Field(0.5, gt=0, le=1)
    max_in_flight: int = Field(500, ge=1, le=5000)
    windows: list[WindowIn] = Field(default_factory=list, max_length=50)
    site_windows: dict[str, list[WindowIn]] = Field(default_factory=dict)
    timeouts: TimeoutsIn = Field(default_factory=TimeoutsIn)
    allow_new_sessions: bool | None = Field(None, description=ALLOW_NEW_SESSIONS_DOC)

    def settings(self) -> RolloutSettings:
        """As the workflow takes them."""

        def windows(items: list[WindowIn]) -> list[Window]:
            return [Window(w.start, w.end, list(w.days)) for w in items]

        return RolloutSettings(
            canary_count=self.canary_count,
            canary_share=self.canary_share,
            soak_s=self.soak_s,
            growth_factor=self.growth_factor,
            promote_share=self.promote_share,
            abort_shares=dict(self.abort_shares),
            abort_min_stations=self.abort_min_stations,
            max_site_share=self.max_site_share,
            max_in_flight=self.max_in_flight,
            windows=windows(self.windows),
            site_windows={site: windows(ws) for site, ws in self.site_windows.items()},
            timeouts=self.timeouts.steps(),
            allow_new_sessions=self.allow_new_sessions,
        )


class RolloutOut(BaseModel):
    """A campaign as stored; ``progress`` from its workflow while it can answer."""

    id: str
    image_id: str
    other_image_ids: list[str]
    state: str
    reason: str | None
    targets: int
    created_at: datetime
    finished_at: datetime | None
    workflow_id: str
    progress: dict[str, Any] | None = None


class RetryIn(BaseModel):
    """Which failed stations to try again (none named: all)."""

    station_ids: list[Annotated[str, Field(max_length=64)]] | None = None


class PauseIn(BaseModel):
    """Why the campaign is paused (shown in the API and the Temporal UI)."""

    reason: str = Field("paused by an operator", max_length=500)


# -- catalogue -------------------------------------------------------------------


@router.post("/firmware", status_code=status.HTTP_201_CREATED, response_model=ImageOut)
async def add_image(body: ImageIn, session: Session, _: Operator) -> ImageOut:
    """Add an image to the catalogue (409 if its id is taken)."""
    if (body.signature is None) != (body.signing_certificate is None):
        raise unprocessable("a signature needs its signing certificate, and the other way")
    if await session.get(FirmwareImage, body.id) is not None:
        raise conflict("firmware image", body.id)
    image = FirmwareImage(**body.model_dump())
    session.add(image)
    await session.commit()
    return ImageOut.of(image)


@router.get("/firmware", response_model=list[ImageOut])
async def list_images(session: Session, _: Viewer) -> list[ImageOut]:
    """The catalogue, newest first."""
    return [ImageOut.of(image) for image in await firmware.images(session)]


@router.get("/firmware/standing", response_model=list[ModelStandingOut])
async def standing(session: Session, _: Viewer) -> list[ModelStandingOut]:
    """Per vendor and model: the recommended version, and which stations are not on it."""
    return [
        ModelStandingOut(
            vendor=s.vendor,
            model=s.model,
            recommended_image=s.recommended.id if s.recommended else None,
            recommended_version=s.recommended.version if s.recommended else None,
            stations=s.stations,
            outdated=[{"station_id": sid, "version": v} for sid, v in s.outdated],
        )
        for s in await firmware.standings(session)
    ]


@router.get("/firmware/{image_id}", response_model=ImageOut)
async def get_image(image_id: Ident, session: Session, _: Viewer) -> ImageOut:
    """One image."""
    image = await session.get(FirmwareImage, image_id)
    if image is None:
        raise not_found("firmware image", image_id)
    return ImageOut.of(image)


@router.patch("/firmware/{image_id}", response_model=ImageOut)
async def change_image(
    image_id: Ident, body: ImageChange, session: Session, _: Operator
) -> ImageOut:
    """Mark the image recommended for its models (or not)."""
    image = await session.get(FirmwareImage, image_id)
    if image is None:
        raise not_found("firmware image", image_id)
    image.recommended = body.recommended
    await session.commit()
    return ImageOut.of(image)


def _ref(image: FirmwareImage) -> FirmwareImageRef:
    return FirmwareImageRef(
        image.id, image.version, image.location, image.signature, image.signing_certificate
    )


# -- one station -----------------------------------------------------------------


@router.post(
    "/stations/{station_id}/firmware-updates",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UpdateStarted,
)
async def update_station(
    station_id: Ident, body: UpdateIn, request: Request, session: Session, _: Operator
) -> UpdateStarted:
    """Update one station (a ``FirmwareUpdate`` workflow); 422 if the image does not fit
    it or it runs that version already."""
    station = await session.get(Station, station_id)
    if station is None:
        raise not_found("station", station_id)
    image = await session.get(FirmwareImage, body.image_id)
    if image is None:
        raise not_found("firmware image", body.image_id)
    if not firmware.fits(image, station.vendor, station.model):
        raise unprocessable(
            f"image {image.id} ({image.vendor} {', '.join(image.models)}) does not fit"
            f" {station_id} ({station.vendor} {station.model})"
        )
    if station.firmware_version == image.version:
        raise unprocessable(f"{station_id} runs {image.version} already")
    open_ = await firmware.open_update(session, station_id, None)
    if open_ is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"{station_id} has an update under way ({open_.workflow_id})"
        )
    client = await temporal_client(request.app.state.temporal)
    # One id per station: a second request while one runs is refused by Temporal too.
    workflow_id = firmware_update_workflow_id(station_id)
    try:
        await client.start_workflow(
            FirmwareUpdateWorkflow.run,
            FirmwareUpdateRequest(
                station_id,
                _ref(image),
                timeouts=body.timeouts.steps(),
                ocpp_version=station.ocpp_version,
                allow_new_sessions=body.allow_new_sessions,
            ),
            id=workflow_id,
            task_queue=request.app.state.task_queue,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.STATION_ID, station_id)]
            ),
            static_summary=f"firmware {image.version} to {station_id}",
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"{station_id} has an update under way ({workflow_id})"
        ) from None
    except RPCError as exc:
        raise temporal_unavailable(exc) from None
    return UpdateStarted(
        workflow_id=workflow_id, station_id=station_id, image_id=image.id, version=image.version
    )


NOT_SENT = frozenset({"requested", "waiting_for_session"})
"""An update's statuses before UpdateFirmware goes out (it can still be called off)."""


async def _live_status(request: Request, workflow_id: str) -> str | None:
    """An open update's status from its workflow (None if it cannot answer now)."""
    try:
        client = await request.app.state.temporal.client()
        handle = client.get_workflow_handle(workflow_id)
        answer: str = await handle.query(
            FirmwareUpdateWorkflow.status, rpc_timeout=timedelta(seconds=5)
        )
        return answer
    except Exception:  # the stored status stands in: a view must not fail on Temporal
        return None


@router.get("/stations/{station_id}/firmware")
async def station_firmware(
    station_id: Ident, request: Request, session: Session, _: Viewer
) -> dict[str, Any]:
    """The station's version, its updates (newest first, an open one's status live from
    its workflow: ``waiting_for_session``, ``sent``, the charger's last status) and the
    versions it booted with."""
    station = await session.get(Station, station_id)
    if station is None:
        raise not_found("station", station_id)
    found = await firmware.history(session, station_id)
    # The workflow writes its rows while it answers: hold no connection meanwhile.
    await session.close()
    live = {
        u.id: await _live_status(request, u.workflow_id)
        for u in found["updates"]
        if u.finished_at is None
    }
    return {
        "station_id": station_id,
        "version": station.firmware_version,
        "updates": [
            {
                "request_id": u.id,
                "workflow_id": u.workflow_id,
                "rollout_id": u.rollout_id,
                "image_id": u.image_id,
                "from_version": u.from_version,
                "target_version": u.target_version,
                "status": live.get(u.id) or u.status,
                "charger_status": u.charger_status,
                "failure": u.failure,
                "reason": u.reason,
                "requested_at": u.requested_at,
                "finished_at": u.finished_at,
            }
            for u in found["updates"]
        ],
        "versions": [{"version": v.version, "at": v.at} for v in found["versions"]],
    }


@router.post("/stations/{station_id}/firmware-updates/cancel", response_model=UpdateStarted)
async def cancel_station_update(
    station_id: Ident, request: Request, session: Session, _: Operator
) -> UpdateStarted:
    """Call off the station's own update (not a campaign's: cancel the campaign) while it
    has not gone out; 404 none open, 409 one sent already (a charger cannot be told to
    stop) or one a campaign runs."""
    open_ = await firmware.open_update(session, station_id, None)
    if open_ is None:
        raise not_found("open firmware update of station", station_id)
    workflow_id, image_id, version = open_.workflow_id, open_.image_id, open_.target_version
    if open_.rollout_id is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"the update belongs to rollout {open_.rollout_id}: cancel the rollout",
        )
    await session.close()
    now = await _live_status(request, workflow_id)
    if now is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "the update's workflow does not answer"
        )
    if now not in NOT_SENT:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"the update is {now}: sent to the charger, it cannot be called back",
        )
    client = await temporal_client(request.app.state.temporal)
    try:
        # Should it go out meanwhile, the workflow ignores the signal: it goes on.
        await client.get_workflow_handle(workflow_id).signal(FirmwareUpdateWorkflow.cancel)
    except RPCError as exc:
        raise temporal_unavailable(exc) from None
    return UpdateStarted(
        workflow_id=workflow_id, station_id=station_id, image_id=image_id, version=version
    )


# -- campaigns -------------------------------------------------------------------


def _row_out(row: FirmwareRolloutRow, progress: RolloutProgress | None = None) -> RolloutOut:
    return RolloutOut(
        id=row.id,
        image_id=row.image_id,
        other_image_ids=list((row.request or {}).get("other_image_ids") or []),
        state=progress.state if progress else row.state,
        reason=progress.reason if progress else row.reason,
        targets=row.targets,
        created_at=row.created_at,
        finished_at=row.finished_at,
        workflow_id=rollout_workflow_id(row.id),
        progress=None if progress is None else asdict(progress),
    )


@router.post("/rollouts", status_code=status.HTTP_201_CREATED, response_model=RolloutOut)
async def start_rollout(
    body: RolloutIn, request: Request, session: Session, _: Operator
) -> RolloutOut:
    """Start a campaign. 404 unknown image; 422 invalid settings, two images for one
    model, stations named that no image fits, or nothing to update; 409 an id in use."""
    settings = body.settings()
    try:
        rollout_plan.check(settings)
    except rollout_plan.SettingsError as error:
        raise unprocessable(str(error)) from None
    image = await session.get(FirmwareImage, body.image_id)
    if image is None:
        raise not_found("firmware image", body.image_id)
    rollout_id = body.id or uuid.uuid4().hex[:12]
    if await session.get(FirmwareRolloutRow, rollout_id) is not None:
        raise conflict("rollout", rollout_id)
    others: list[FirmwareImage] = []
    for other_id in body.other_image_ids:
        other = await session.get(FirmwareImage, other_id)
        if other is None:
            raise not_found("firmware image", other_id)
        others.append(other)
    target_filter = TargetFilter(**body.targets.model_dump())
    try:
        chosen = await choose_targets(
            session, TargetQuery(image.id, target_filter, [o.id for o in others])
        )
    except TargetError as error:
        raise unprocessable(str(error)) from None
    misfits = {s: why for s, why in chosen.skipped.items() if "does not fit" in why}
    if body.targets.station_ids is not None and misfits:
        first = sorted(misfits)[:5]
        raise unprocessable("no image fits: " + "; ".join(f"{s} ({misfits[s]})" for s in first))
    unknown = sorted(s for s, why in chosen.skipped.items() if why == "no such station")
    if unknown:
        raise unprocessable(f"unknown stations: {', '.join(unknown[:5])}")
    if not chosen.targets:
        raise unprocessable(
            "no station to update: none matches the targets, fits the image and is not on"
            f" {image.version} already"
        )
    row = FirmwareRolloutRow(
        id=rollout_id,
        image_id=image.id,
        request=body.model_dump(mode="json"),
        targets=len(chosen.targets),
        state="running",
    )
    session.add(row)
    await session.commit()
    client = await temporal_client(request.app.state.temporal)
    try:
        await client.start_workflow(
            FirmwareRolloutWorkflow.run,
            RolloutRequest(
                rollout_id,
                _ref(image),
                target_filter,
                settings,
                other_images=[_ref(other) for other in others],
            ),
            id=rollout_workflow_id(rollout_id),
            task_queue=request.app.state.task_queue,
            static_summary=f"firmware {image.version} ({image.id}) to {len(chosen.targets)}",
        )
    except WorkflowAlreadyStartedError:
        raise conflict("rollout", rollout_id) from None
    except RPCError as exc:
        raise temporal_unavailable(exc) from None
    return _row_out(row)


@router.get("/rollouts", response_model=list[RolloutOut])
async def list_rollouts(
    session: Session,
    _: Viewer,
    limit: int = Query(100, ge=1, le=1000),
) -> list[RolloutOut]:
    """Campaigns, newest first (as stored; one campaign's live progress at its own URL)."""
    rows = await session.scalars(
        select(FirmwareRolloutRow).order_by(FirmwareRolloutRow.created_at.desc()).limit(limit)
    )
    return [_row_out(row) for row in rows.all()]


async def _rollout(session: Session, rollout_id: str) -> FirmwareRolloutRow:
    row = await session.get(FirmwareRolloutRow, rollout_id)
    if row is None:
        raise not_found("rollout", rollout_id)
    return row


@router.get("/rollouts/{rollout_id}", response_model=RolloutOut)
async def get_rollout(
    rollout_id: Ident,
    request: Request,
    session: Session,
    _: Viewer,
    stations: bool = Query(False, description="each station's state too"),
) -> RolloutOut:
    """A campaign with its progress: counts per state and failure class, waves, and (asked)
    each station; the stored counts when its workflow cannot answer."""
    row = await _rollout(session, rollout_id)
    client = await temporal_client(request.app.state.temporal)
    handle = client.get_workflow_handle(rollout_workflow_id(rollout_id))
    try:
        progress: RolloutProgress = await handle.query(FirmwareRolloutWorkflow.progress, stations)
    except RPCError:
        out = _row_out(row)
        out.progress = {"counts": await firmware.rollout_counts(session, rollout_id)}
        return out
    return _row_out(row, progress)


async def _operate(
    request: Request, session: Session, rollout_id: str, update: Any, *args: Any
) -> RolloutOut:
    """Run an operator's update on the campaign; 409 with the workflow's reason if it
    refuses (validators: nothing reaches the history)."""
    row = await _rollout(session, rollout_id)
    # The workflow writes its state while it answers: hold no connection meanwhile
    # (SQLite has one).
    await session.close()
    client = await temporal_client(request.app.state.temporal)
    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(rollout_workflow_id(rollout_id))
    try:
        progress: RolloutProgress = await handle.execute_update(update, args=list(args))
    except WorkflowUpdateFailedError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc.cause or exc)) from None
    except RPCError as exc:
        if "not found" in str(exc).lower() or "completed" in str(exc).lower():
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"the rollout is over ({row.state})"
            ) from None
        raise temporal_unavailable(exc) from None
    return _row_out(row, progress)


@router.post("/rollouts/{rollout_id}/pause", response_model=RolloutOut)
async def pause_rollout(
    rollout_id: Ident, request: Request, session: Session, _: Operator, body: PauseIn | None = None
) -> RolloutOut:
    """Start no new update until resumed (updates under way go on)."""
    reason = (body or PauseIn()).reason
    return await _operate(request, session, rollout_id, FirmwareRolloutWorkflow.pause, reason)


@router.post("/rollouts/{rollout_id}/resume", response_model=RolloutOut)
async def resume_rollout(
    rollout_id: Ident, request: Request, session: Session, _: Operator
) -> RolloutOut:
    """Go on where the campaign paused."""
    return await _operate(request, session, rollout_id, FirmwareRolloutWorkflow.resume)


@router.post("/rollouts/{rollout_id}/cancel", response_model=RolloutOut)
async def cancel_rollout(
    rollout_id: Ident, request: Request, session: Session, _: Operator
) -> RolloutOut:
    """Stop the campaign: nothing new starts, updates not yet sent are called off."""
    return await _operate(request, session, rollout_id, FirmwareRolloutWorkflow.cancel)


@router.post("/rollouts/{rollout_id}/retry", response_model=RolloutOut)
async def retry_rollout(
    rollout_id: Ident, request: Request, session: Session, _: Operator, body: RetryIn | None = None
) -> RolloutOut:
    """Try failed stations again (all failed ones unless named)."""
    wanted = RetryRequest((body or RetryIn()).station_ids)
    return await _operate(request, session, rollout_id, FirmwareRolloutWorkflow.retry, wanted)


@router.post("/rollouts/{rollout_id}/promote", response_model=RolloutOut)
async def promote_rollout(
    rollout_id: Ident, request: Request, session: Session, _: Operator
) -> RolloutOut:
    """Start the next wave now."""
    return await _operate(request, session, rollout_id, FirmwareRolloutWorkflow.promote)
