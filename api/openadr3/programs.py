"""OpenADR 3 programs: each utility's own, by id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from activities.demand_response import SIMPLE_LEVELS
from activities.persistence.models import DrEvent, DrProgram
from api.deps import Session
from api.openadr3 import notify
from api.openadr3.auth import ProgramWriter, Utility
from api.openadr3.schemas import ProgramIn, served

router = APIRouter(prefix="/programs", tags=["openadr3"])

Skip = Annotated[int, Query(ge=0, le=10_000)]
Limit = Annotated[int, Query(ge=1, le=50)]


async def own_program(session: Any, utility: Utility, program_id: str) -> DrProgram:
    """The utility's program ``program_id`` (404 for another's as for none)."""
    program = await session.get(DrProgram, program_id)
    if program is None or program.client_id != utility.client_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"program {program_id!r} not found")
    return program


async def _commit_named(session: Any, name: str) -> None:
    """Commit, or 409 when the utility already has a program of that name."""
    try:
        await session.commit()
    except IntegrityError:
        raise HTTPException(status.HTTP_409_CONFLICT, f"program {name!r} already exists") from None


def _check_levels(body: ProgramIn) -> None:
    """400 unless a SIMPLE_LEVELS attribute is four percentages, 0-100, not falling."""
    for attribute in body.attributes or []:
        if attribute.get("type") != SIMPLE_LEVELS:
            continue
        values = attribute.get("values")
        if (
            not isinstance(values, list)
            or len(values) != 4
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
            or not all(0 <= v <= 100 for v in values)
            or values != sorted(values)
        ):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                "SIMPLE_LEVELS: four percentages of the connection withheld at levels "
                "0 to 3, each 0-100 and none below the one before",
            )


def _check_targets(utility: Utility, targets: list[str] | None) -> None:
    unknown = sorted(set(targets or []) - utility.sites)
    if unknown:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"unknown targets (not this utility's sites): {unknown}"
        )


@router.get("")
async def search_programs(
    utility: Utility, session: Session, skip: Skip = 0, limit: Limit = 50
) -> list[dict[str, Any]]:
    """The utility's programs, oldest first."""
    rows = await session.scalars(
        select(DrProgram)
        .where(DrProgram.client_id == utility.client_id)
        .order_by(DrProgram.created_at, DrProgram.id)
        .offset(skip)
        .limit(limit)
    )
    return [row.body for row in rows]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_program(
    body: ProgramIn, utility: ProgramWriter, session: Session, request: Request
) -> dict[str, Any]:
    """A new program (409 if the utility already has one of that name). A
    ``SIMPLE_LEVELS`` attribute sets what its SIMPLE levels withhold."""
    _check_targets(utility, body.targets)
    _check_levels(body)
    now = datetime.now(UTC)
    ident = str(uuid.uuid4())
    program = DrProgram(
        id=ident,
        client_id=utility.client_id,
        program_name=body.programName,
        body=served("PROGRAM", ident, now, now, body),
        created_at=now,
        modified_at=now,
    )
    session.add(program)
    calls = await notify.queue(
        session, utility.client_id, "PROGRAM", "POST", program.body, ident, body.targets
    )
    await _commit_named(session, body.programName)
    await notify.send(request, calls)
    return program.body


@router.get("/{program_id}")
async def get_program(program_id: str, utility: Utility, session: Session) -> dict[str, Any]:
    """One of the utility's programs."""
    return (await own_program(session, utility, program_id)).body


@router.put("/{program_id}")
async def update_program(
    program_id: str, body: ProgramIn, utility: ProgramWriter, session: Session, request: Request
) -> dict[str, Any]:
    """Replace a program (its id and creation time stay)."""
    _check_targets(utility, body.targets)
    _check_levels(body)
    program = await own_program(session, utility, program_id)
    now = datetime.now(UTC)
    program.program_name = body.programName
    program.body = served("PROGRAM", program.id, program.created_at, now, body)
    program.modified_at = now
    calls = await notify.queue(
        session, utility.client_id, "PROGRAM", "PUT", program.body, program.id, body.targets
    )
    await _commit_named(session, body.programName)
    await notify.send(request, calls)
    return program.body


@router.delete("/{program_id}")
async def delete_program(
    program_id: str, utility: ProgramWriter, session: Session, request: Request
) -> dict[str, Any]:
    """Delete a program without events (409 while it has any); answers the object."""
    program = await own_program(session, utility, program_id)
    events = await session.scalar(
        select(func.count()).select_from(DrEvent).where(DrEvent.program_id == program.id)
    )
    if events:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"program {program_id!r} has {events} events; delete them first",
        )
    body = program.body
    calls = await notify.queue(
        session, utility.client_id, "PROGRAM", "DELETE", body, program.id, body.get("targets")
    )
    await session.delete(program)
    await session.commit()
    await notify.send(request, calls)
    return body
