"""Stations: registration, live status and approval of pending chargers."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Query, Request, status
from sqlalchemy.exc import IntegrityError

from activities.credentials import hash_password
from activities.persistence.models import Station, StationConnection
from activities.persistence.repositories import (
    registry,
    sites,
    station_certificates,
    station_events,
    station_messages,
    station_variables,
    stations,
)
from api.auth import Operator, Viewer
from api.deps import Session
from api.errors import conflict, not_found, unprocessable
from api.schemas import (
    ApprovalIn,
    StationCertificateOut,
    StationEventOut,
    StationIn,
    StationMessageOut,
    StationOut,
    StationVariableOut,
    UtcDateTime,
)

router = APIRouter(prefix="/stations", tags=["stations"])


def _out(station: Station, live: StationConnection | None) -> StationOut:
    out = StationOut.model_validate(station)
    if live is not None:
        out.online = True
        out.gateway_node = live.node_id
        out.connected_at = live.connected_at
    return out


@router.get("")
async def list_stations(
    session: Session,
    _: Viewer,
    site_id: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**63 - 1),
) -> list[StationOut]:
    """Stations with their online state, optionally of one site."""
    rows = await stations.list_stations(session, site_id=site_id, limit=limit, offset=offset)
    live = await registry.connections(session, [s.id for s in rows])
    return [_out(s, live.get(s.id)) for s in rows]


def refuse_unsecured(request: Request) -> None:
    """422 unless this deployment allows stations without authentication (profile 0)."""
    if not request.app.state.allow_unsecured_stations:
        raise unprocessable(
            "security profile 0 (no authentication) is refused by this deployment; "
            "give the station a password or a client certificate "
            "(CSMS_ALLOW_UNSECURED_STATIONS=true opts in)"
        )


@router.post("", status_code=status.HTTP_201_CREATED)
async def register_station(
    body: StationIn, request: Request, session: Session, _: Operator
) -> StationOut:
    """Register a station so it may connect; with a password it must use HTTP Basic auth."""
    if body.site_id is not None and await sites.get_site(session, body.site_id) is None:
        raise unprocessable(f"site {body.site_id!r} does not exist")
    if body.security_profile == 0:
        refuse_unsecured(request)
    if await stations.get_station(session, body.id) is not None:
        raise conflict("station", body.id)
    station = Station(
        id=body.id,
        site_id=body.site_id,
        registration_status="accepted",
        security_profile=body.security_profile,
        ocpp_version=body.ocpp_version,
        # Argon2 costs tens of milliseconds: off the event loop.
        password_hash=await asyncio.to_thread(hash_password, body.password)
        if body.password
        else None,
    )
    session.add(station)
    try:
        await session.commit()
    except IntegrityError:
        raise conflict("station", body.id) from None
    await session.refresh(station, ["connectors"])
    return _out(station, None)


@router.get("/{station_id}")
async def get_station(station_id: str, session: Session, _: Viewer) -> StationOut:
    """A station with connector statuses and whether a gateway holds its socket."""
    station = await stations.get_station(session, station_id)
    if station is None:
        raise not_found("station", station_id)
    live = await registry.connections(session, [station_id])
    return _out(station, live.get(station_id))


@router.get("/{station_id}/events")
async def station_events_of(
    station_id: str,
    session: Session,
    _: Viewer,
    kind: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[StationEventOut]:
    """The station's notifications, newest first (firmware and log uploads, security
    events, reports, charging limits, EV charging needs)."""
    if await stations.get_station(session, station_id) is None:
        raise not_found("station", station_id)
    rows = await station_events.events_of(session, station_id, kind=kind, limit=limit)
    return [StationEventOut.model_validate(r) for r in rows]


@router.get("/{station_id}/certificates")
async def station_certificates_of(
    station_id: str, session: Session, _: Viewer
) -> list[StationCertificateOut]:
    """The station's certificate signing requests, newest first: requested, signed,
    installed (the station accepted CertificateSigned), rejected or failed; with the
    issued chain, its serial number and expiry."""
    if await stations.get_station(session, station_id) is None:
        raise not_found("station", station_id)
    rows = await station_certificates.of_station(session, station_id)
    return [StationCertificateOut.model_validate(r) for r in rows]


@router.get("/{station_id}/messages")
async def station_messages_of(
    station_id: str,
    session: Session,
    _: Viewer,
    action: str | None = None,
    direction: Literal["in", "out"] | None = None,
    since: UtcDateTime | None = None,
    before_id: int | None = Query(None, ge=1, le=2**63 - 1, description="page: ids below this one"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[StationMessageOut]:
    """The station's message log, newest first: every frame in and out with its action,
    payload, the charger's reply and timing (kept ``CSMS_MESSAGE_LOG_RETENTION_DAYS``)."""
    if await stations.get_station(session, station_id) is None:
        raise not_found("station", station_id)
    rows = await station_messages.messages_of(
        session,
        station_id,
        action=action,
        direction=direction,
        since=since,
        before_id=before_id,
        limit=limit,
    )
    return [StationMessageOut.model_validate(r) for r in rows]


@router.get("/{station_id}/configuration")
async def station_configuration(
    station_id: str, session: Session, _: Viewer, prefix: str | None = None
) -> list[StationVariableOut]:
    """The configuration the station reported: 1.6 keys from get-configuration, 2.x
    variables from get-configuration or a base report (NotifyReport), and values
    set with change-configuration."""
    if await stations.get_station(session, station_id) is None:
        raise not_found("station", station_id)
    rows = await station_variables.of_station(session, station_id, prefix)
    return [StationVariableOut.model_validate(r) for r in rows]


@router.post("/{station_id}/re-register")
async def re_register_station(station_id: str, session: Session, _: Operator) -> StationOut:
    """Put the station back to Pending (2.x B02/B03, 1.6 Pending): its next
    BootNotification is answered Pending, so the CSMS may provision it (get and set
    variables, install certificates) before approving it again. It takes effect at
    the station's next boot: send ``reset`` to have it now. Its credentials stay."""
    station = await stations.get_station(session, station_id)
    if station is None:
        raise not_found("station", station_id)
    station.registration_status = "pending"
    await session.commit()
    live = await registry.connections(session, [station_id])
    return _out(station, live.get(station_id))


@router.post("/{station_id}/approve")
async def approve_station(
    station_id: str,
    request: Request,
    session: Session,
    _: Operator,
    body: ApprovalIn | None = None,
) -> StationOut:
    """Accept a pending station (it is told Accepted at its next BootNotification).

    A station admitted as pending presented no credentials: give it a password
    and a security profile here; it may stay at profile 0 only where the
    deployment allows unsecured stations.
    """
    body = body or ApprovalIn()
    station = await stations.get_station(session, station_id)
    if station is None:
        raise not_found("station", station_id)
    if body.site_id is not None:
        if await sites.get_site(session, body.site_id) is None:
            raise unprocessable(f"site {body.site_id!r} does not exist")
        station.site_id = body.site_id
    if body.password is not None:
        station.password_hash = await asyncio.to_thread(hash_password, body.password)
        station.security_profile = 1
    if body.security_profile is not None:
        station.security_profile = body.security_profile
    if station.security_profile == 0:
        refuse_unsecured(request)
    station.registration_status = "accepted"
    await session.commit()
    live = await registry.connections(session, [station_id])
    return _out(station, live.get(station_id))
