"""Charger commands: ``POST /stations/{id}/commands/{command}`` answers what the charger said.

One endpoint per command, each with its typed body (the version-neutral
dataclasses of :mod:`workflows.commands`); the gateway translates them for the
station's OCPP version. Failures: 404 unknown station, 409 station offline,
422 not possible in the station's version, 502 the charger answered with an
error, 504 the charger did not answer in time, 503 Temporal unreachable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request

from activities.persistence.repositories import stations
from activities.smart_charging import SmartChargingActivities
from api.auth import Operator
from api.commands import RemoteStartReply, reachable_node, run_command, run_remote_start
from api.deps import Session
from api.errors import not_found, unprocessable
from optimizer.charging_profile import ChargingProfile
from workflows.commands import COMMANDS, CommandReply, RemoteStart
from workflows.profile_commands import (
    OPERATOR_STACK_LEVELS,
    SchedulePeriod,
    StartProfile,
    platform_profile_id,
)

router = APIRouter(prefix="/stations/{station_id}/commands", tags=["commands"])

# Commands whose dataclass has no fields may be sent without a body.
_EMPTY = {name for name, kind in COMMANDS.items() if not kind.__dataclass_fields__}


MAX_ID = 2**31 - 1
"""Ids a command names (connectors, EVSEs, requests) are 32-bit in OCPP's columns."""


def check_ids(command: Any) -> None:
    """422 for an integer field out of 0..2^31-1 (it would overflow a column, and no
    charger's id is that large)."""
    for item in dataclasses.fields(command):
        value = getattr(command, item.name)
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_ID:
            raise unprocessable(f"{item.name} {value} is out of range (0..{MAX_ID})")


def start_profile_of(profile: ChargingProfile) -> StartProfile:
    """The planner's TxProfile as a remote start carries it: absolute, at the planner's
    stack level and TxProfile id (replaced by the first plan with the transaction)."""
    return StartProfile(
        periods=[SchedulePeriod(p.start_s, p.limit, p.phases) for p in profile.periods],
        profile_id=profile.profile_id,
        stack_level=profile.stack_level,
        rate_unit=profile.rate_unit,
        kind="Absolute",
        start=profile.start,
        duration_s=profile.duration_s,
    )


def _endpoint(name: str, kind: type[Any]) -> Callable[..., Awaitable[CommandReply]]:
    async def send(
        station_id: str,
        request: Request,
        session: Session,
        _: Operator,
        body: Any = None,
        timeout_s: float = Query(30.0, gt=0, le=300, description="how long the charger may take"),
    ) -> CommandReply:
        if body is None and name not in _EMPTY:
            raise unprocessable(f"{name} needs a body: {', '.join(kind.__dataclass_fields__)}")
        command = body if body is not None else kind()
        check_ids(command)
        node = await reachable_node(session, station_id)
        state = request.app.state
        return await run_command(
            state.temporal,
            state.task_queue,
            station_id,
            command,
            timeout_s=timeout_s,
            node_hint=node,
        )

    # The body's type is the command's dataclass: FastAPI validates it and
    # documents it in the OpenAPI schema.
    send.__annotations__["body"] = kind | None if name in _EMPTY else kind
    send.__annotations__["return"] = CommandReply
    send.__name__ = name.replace("-", "_")
    send.__doc__ = kind.__doc__
    return send


@router.post("/remote-start", summary="Remote start")
async def remote_start(
    station_id: str,
    body: RemoteStart,
    request: Request,
    session: Session,
    _: Operator,
    timeout_s: float = Query(30.0, gt=0, le=300, description="how long the charger may take"),
    start_timeout_s: float = Query(
        180.0, gt=0, le=3600, description="how long the driver may take to plug in"
    ),
) -> RemoteStartReply:
    """Start a session remotely: its workflow exists at once (``workflow_id``), sends
    the request, and is joined by the charger's transaction when it starts (2.x by
    ``remoteStartId``, 1.6 by id tag and connector)."""
    check_ids(body)
    station = await stations.get_station(session, station_id)
    if station is None:
        raise not_found("station", station_id)
    site_id = station.site_id
    if body.charging_profile is not None:
        given = body.charging_profile
        if given.stack_level not in OPERATOR_STACK_LEVELS or platform_profile_id(given.profile_id):
            raise unprocessable(
                "an operator's profile takes stack levels 2..8 and an id outside"
                " 0..999 and 900000..999999 (the platform's)"
            )
    elif site_id is not None:
        # A smart-charged site: the planner's profile for the arriving vehicle goes with
        # the start (the first plan with its transaction replaces it).
        planned = await SmartChargingActivities(request.app.state.db).arrival_profile(
            session, site_id, station_id, body.evse_id or body.connector_id or 1, datetime.now(UTC)
        )
        if planned is not None:
            body = dataclasses.replace(body, charging_profile=start_profile_of(planned))
    await session.close()
    state = request.app.state
    return await run_remote_start(
        state.temporal,
        state.task_queue,
        station_id,
        site_id,
        body,
        timeout_s=timeout_s,
        start_timeout_s=start_timeout_s,
    )


for _name, _kind in COMMANDS.items():
    if _name in (
        "remote-start",
        "reserve-now",
        "cancel-reservation",
        "upload-logs",
        "update-firmware",
        "set-charging-profile",
    ):
        # Remote start above (a session workflow); reservations and log uploads are
        # resources of their own (``/stations/{id}/reservations``,
        # ``/stations/{id}/log-uploads``, ``/stations/{id}/firmware-updates``), a
        # workflow each; charging profiles come
        # from the site's smart-charging workflow.
        continue
    router.add_api_route(
        f"/{_name}",
        _endpoint(_name, _kind),
        methods=["POST"],
        summary=_name.replace("-", " ").capitalize(),
        response_model=CommandReply,
    )
