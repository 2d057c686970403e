"""A station's notifications, kept for operators, and the workflows they wake.

Firmware and log-upload progress, security events, reports, reservation
updates and a vehicle's charging needs arrive as typed
:class:`~workflows.domain.StationNotice` values (the version modules read the
OCPP fields). Each is stored with its message, secrets masked; the typed parts
are applied: reported variables to the station's configuration, a reservation's
end to that station's own reservation, an upload's status to its upload, a
firmware status to the station's update under way; the
workflow waiting on it is then woken.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import OutboxEvent
from activities.persistence.repositories import (
    firmware,
    log_uploads,
    reservations,
    station_events,
    station_variables,
)
from activities.persistence.types import to_json
from gateway import health_facts
from gateway.connection import StationContext
from gateway.redaction import redact
from gateway.services import GatewayServices
from gateway.smart_sites import SmartSites
from gateway.timestamps import utcnow
from gateway.wakeups import Wakeups
from workflows.domain import NoticeKind, StationNotice

Wake = tuple[str, str, str]
"""A workflow to signal once a notice is stored: (workflow id, signal, argument)."""


class Notices:
    """Keeps notices through the node's write queue and wakes their workflows."""

    def __init__(
        self, services: GatewayServices, smart_sites: SmartSites, wakeups: Wakeups
    ) -> None:
        self._services = services
        self._smart_sites = smart_sites
        self._wakeups = wakeups

    async def keep(self, ctx: StationContext, notice: StationNotice) -> None:
        """Store the notice and apply its typed parts; wake the workflow it concerns."""
        payload: dict[str, Any] = {
            "status": notice.status,
            "request_id": notice.request_id,
            "message": redact(notice.payload),
        }
        if notice.needs is not None:
            # What the CSMS acts on, in neutral terms (planning never reads OCPP fields).
            payload["needs"] = to_json(notice.needs)

        node_id = self._services.config.node_id

        async def store(session: AsyncSession) -> tuple[Wake | None, list[OutboxEvent]]:
            station_events.add_event(
                session, station_id=ctx.station_id, kind=notice.kind.value, payload=payload
            )
            # The health workflow's facts in the notice's own transaction.
            rows = health_facts.enqueue_all(session, node_id, notice.facts)
            return await _apply(session, ctx.station_id, notice), rows

        wake, rows = await self._services.writes.run(store)
        for row in rows:
            self._services.relay.submit(row)
        if wake is not None:
            self._wakeups.signal(*wake)
        if notice.kind is NoticeKind.CHARGING_LIMIT:
            # An EMS or the grid operator limits the station: its site plans again.
            site_id = ctx.site_id
            if site_id is not None and await self._smart_sites.refresh(site_id):
                self._wakeups.signal(f"site:{site_id}", "config_changed")

    def booted(self, workflow_id: str, version: str | None) -> None:
        """Tell a firmware update's workflow that its station booted with ``version``
        (already stored: the workflow reads the station row if this is lost)."""
        self._wakeups.signal(workflow_id, "booted", version)

    async def ev_charging_needs(self, ctx: StationContext, notice: StationNotice) -> bool:
        """Keep a vehicle's reported needs; True if its site is smart-charged (the site's
        workflow is woken to re-plan with them)."""
        await self.keep(ctx, notice)
        site_id = ctx.site_id
        if site_id is None or not await self._smart_sites.refresh(site_id):
            return False
        self._wakeups.signal(f"site:{site_id}", "config_changed")
        return True


async def _apply(session: AsyncSession, station_id: str, notice: StationNotice) -> Wake | None:
    """The notice's typed parts, each scoped to the station that sent it."""
    if notice.variables:
        # A part of a base report: keep the values the station reported.
        await station_variables.upsert_many(
            session, station_id, notice.variables, source="NotifyReport", at=utcnow()
        )
    if notice.reservation_ended is not None:
        # Only this station's own reservation: ids are per station.
        ended = notice.reservation_ended
        workflow = await reservations.end_by_station(
            session, station_id, ended.reservation_id, ended.status
        )
        return None if workflow is None else (workflow, "ended", ended.status)
    if notice.kind is NoticeKind.FIRMWARE_STATUS and notice.status is not None:
        # The station's own update only (1.6 names none: its latest open one).
        update = await firmware.charger_status(
            session, station_id, notice.request_id, notice.status, utcnow()
        )
        if update is not None:
            return (update.workflow_id, "progress", notice.status)
    if notice.kind is NoticeKind.LOG_STATUS and notice.status is not None:
        upload = await log_uploads.charger_status(
            session, station_id, notice.request_id, notice.status, utcnow()
        )
        if upload is not None:
            return (upload.workflow_id, "progress", notice.status)
    return None
