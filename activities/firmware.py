"""Activities of firmware updates and rollouts: the update rows, a station's sessions
and version, a campaign's targets and state."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.persistence.database import Database
from activities.persistence.models import (
    FirmwareImage,
    FirmwareRolloutRow,
    FirmwareUpdateRow,
    Station,
)
from activities.persistence.repositories import firmware, reconciliation
from workflows.firmware import (
    Target,
    TargetQuery,
    Targets,
    UpdateEnd,
    UpdateRecord,
)


@dataclass(frozen=True)
class RolloutTargets:
    """Choose campaign ``rollout_id``'s targets."""

    rollout_id: str
    query: TargetQuery


@dataclass(frozen=True)
class RolloutState:
    """Where a campaign stands, for its row."""

    rollout_id: str
    state: str
    reason: str | None = None
    finished: bool = False
    # An aborted rollout: the station whose failure stopped it (an operator alert).
    alert_station: str | None = None


UPDATE_UNDER_WAY = "UpdateUnderWay"
"""The failure of an update asked for a station that has one under way."""


class TargetError(ValueError):
    """A campaign's targets cannot be chosen (unknown image, nothing to update)."""


def _refuse_overlaps(images: list[FirmwareImage]) -> None:
    """Refuse two images made for the same vendor and model."""
    made_for: dict[tuple[str, str], str] = {}
    for image in images:
        for model in image.models:
            key = (image.vendor.casefold(), model.casefold())
            if key in made_for:
                raise TargetError(
                    f"images {made_for[key]} and {image.id} are both made for"
                    f" {image.vendor} {model}: a campaign gives each model one image"
                )
            made_for[key] = image.id


MAX_TARGETS = 5000
"""Stations one campaign updates at most. Its workflow carries every station's state
in its history and its payloads (Temporal limits both: some 50,000 events, 2 MB a
payload); 5,000 stay well inside (about 20,000 events, under 1 MB). Larger fleets
run as several campaigns, by site, model or list."""
SKIPPED_LISTED = 1000
"""Left-out stations a campaign names (the rest are counted)."""


async def choose_targets(session: AsyncSession, query: TargetQuery) -> Targets:
    """The stations of ``query`` that an image fits and that are not on its version.

    With several images (a multi-vendor campaign) each station gets the one made for
    its vendor and model; images made for the same model are refused, as the choice
    between them would be a guess. Shared by the API (which refuses an empty set
    before starting anything) and the campaign (which takes its targets once, at its
    start)."""
    chosen_images: list[FirmwareImage] = []
    for image_id in [query.image_id, *query.other_image_ids]:
        image = await session.get(FirmwareImage, image_id)
        if image is None:
            raise TargetError(f"unknown firmware image {image_id!r}")
        if image in chosen_images:
            raise TargetError(f"image {image_id} is named twice")
        chosen_images.append(image)
    _refuse_overlaps(chosen_images)
    several = len(chosen_images) > 1
    f = query.filter
    found = await firmware.candidates(
        session,
        station_ids=f.station_ids,
        site_ids=f.site_ids,
        vendor=f.vendor,
        model=f.model,
        current_version=f.current_version,
    )
    targets, skipped = [], {}
    for c in found:
        image = next((i for i in chosen_images if firmware.fits(i, c.vendor, c.model)), None)
        if image is None:
            names = ", ".join(i.id for i in chosen_images)
            skipped[c.station_id] = f"image {names} does not fit {c.vendor} {c.model}"
        elif c.firmware_version == image.version:
            skipped[c.station_id] = f"already on {image.version}"
        else:
            targets.append(
                Target(
                    c.station_id,
                    c.site_id,
                    c.time_zone,
                    c.ocpp_version,
                    c.firmware_version,
                    image.id if several else None,
                )
            )
    if f.station_ids is not None:
        for missing in sorted(set(f.station_ids) - {c.station_id for c in found}):
            skipped[missing] = "no such station"
    if len(targets) > MAX_TARGETS:
        raise TargetError(
            f"{len(targets)} stations to update: a campaign takes at most {MAX_TARGETS};"
            " split it by site, model or station list"
        )
    sites = {t.site_id for t in targets if t.site_id is not None}
    sizes = await firmware.site_sizes(session, sites) if sites else {}
    return Targets(targets, skipped, sizes)


class FirmwareActivities:
    """Firmware rows and lookups, bound to a database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn(name="record_firmware_update")
    async def record_firmware_update(self, record: UpdateRecord) -> int:
        """Store the update once per workflow; its id (the OCPP requestId)."""
        request = record.request
        async with self._db.sessions.begin() as session:
            # A retry of this very call finds the row its first attempt made.
            found = await firmware.open_update_of_workflow(session, record.workflow_id)
            if found is not None:
                return found.id
            station = await session.get(Station, request.station_id, with_for_update=True)
            if station is None:
                raise ApplicationError(f"unknown station {request.station_id}", non_retryable=True)
            other = await firmware.open_update(session, request.station_id, None)
            if other is not None:
                # One update at a time: the charger would cancel the first one.
                raise ApplicationError(
                    f"{request.station_id} has an update under way ({other.workflow_id})",
                    type=UPDATE_UNDER_WAY,
                    non_retryable=True,
                )
            now = datetime.now(UTC)
            row = FirmwareUpdateRow(
                station_id=request.station_id,
                image_id=request.image.image_id,
                rollout_id=request.rollout_id,
                workflow_id=record.workflow_id,
                from_version=station.firmware_version,
                target_version=request.image.version,
                status="requested",
                requested_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            return row.id

    @activity.defn(name="end_firmware_update")
    async def end_firmware_update(self, end: UpdateEnd) -> None:
        """Keep the update's outcome (once)."""
        async with self._db.sessions.begin() as session:
            row = await session.get(FirmwareUpdateRow, end.request_id)
            if row is None or row.finished_at is not None:
                return
            result = end.result
            now = datetime.now(UTC)
            row.status = result.outcome
            row.failure = result.failure
            row.reason = result.reason
            row.updated_at = now
            row.finished_at = now

    @activity.defn(name="station_busy")
    async def station_busy(self, station_id: str) -> bool:
        """Whether a session is open on the station."""
        async with self._db.sessions() as session:
            return await firmware.busy(session, station_id)

    @activity.defn(name="station_firmware_version")
    async def station_firmware_version(self, station_id: str) -> str | None:
        """The version the station reported at its last boot."""
        async with self._db.sessions() as session:
            station = await session.get(Station, station_id)
            return None if station is None else station.firmware_version

    @activity.defn(name="rollout_targets")
    async def rollout_targets(self, query: RolloutTargets) -> Targets:
        """The campaign's targets, counted on its row (created if the API did not);
        a non-retryable failure if they cannot be chosen."""
        try:
            async with self._db.sessions() as session:
                chosen = await choose_targets(session, query.query)
        except TargetError as error:
            raise ApplicationError(str(error), non_retryable=True) from None
        async with self._db.sessions.begin() as session:
            row = await session.get(FirmwareRolloutRow, query.rollout_id)
            if row is None:
                row = FirmwareRolloutRow(
                    id=query.rollout_id,
                    image_id=query.query.image_id,
                    request={"filter": asdict(query.query.filter)},
                    targets=0,
                    state="running",
                )
                session.add(row)
            row.targets = len(chosen.targets)
        return chosen.bounded(SKIPPED_LISTED)

    @activity.defn(name="set_rollout_state")
    async def set_rollout_state(self, state: RolloutState) -> None:
        """Keep where a campaign stands on its row; an abort alerts operators once."""
        async with self._db.sessions.begin() as session:
            row = await session.get(FirmwareRolloutRow, state.rollout_id, with_for_update=True)
            if row is None or row.finished_at is not None:
                return
            alert = state.state == "aborted" and row.state != "aborted"
            row.state, row.reason = state.state, state.reason
            if state.finished:
                row.finished_at = datetime.now(UTC)
            if alert and state.alert_station is not None:
                # Operators' inbox: a campaign stopped itself and needs a decision.
                reconciliation.add_item(
                    session,
                    station_id=state.alert_station,
                    kind="FirmwareRolloutAborted",
                    payload={"rollout_id": state.rollout_id, "reason": state.reason},
                    note=f"rollout {state.rollout_id} aborted: {state.reason}",
                )
