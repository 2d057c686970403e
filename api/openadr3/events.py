"""OpenADR 3 events of a utility's programs, checked before anything is stored.

An event's intervals follow one another from the event's ``intervalPeriod``
unless they carry their own; they may not overlap, the event may not be over,
its payloads must be of the types its program allows (when the program names
any), a capacity limit or price must be a number (a limit not below zero), a
SIMPLE level 0-3, and its targets the utility's own sites (none: all of them).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy import select
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from activities.persistence.models import DrEvent, DrProgram
from api.deps import Session
from api.openadr3 import notify
from api.openadr3.auth import EventWriter, Utility
from api.openadr3.programs import Limit, Skip, _check_targets, own_program
from api.openadr3.schemas import EventIn, served
from workflows.demand_response import DemandResponseWorkflow, DrSchedule, dr_workflow_id

router = APIRouter(prefix="/events", tags=["openadr3"])

log = logging.getLogger(__name__)

WORKFLOW_TIMEOUT_S = 3.0


def targeted(body: dict[str, Any], utility: Utility) -> set[str]:
    """The sites an event applies to: its targets, or every site of the utility."""
    return set(body.get("targets") or utility.sites)


def schedule_of(event_id: str, body: EventIn, sites: set[str]) -> DrSchedule:
    """The moments the event's limits change, for its workflow."""
    spans = intervals_of(body)
    moments = sorted({s for _, s, _ in spans} | {e for _, _, e in spans})
    return DrSchedule(event_id, sorted(sites), moments)


async def _follow(request: Request, schedule: DrSchedule, *, cancelled: bool = False) -> None:
    """Start (or tell, by a validated update) the event's ``dr:{event}`` workflow, which
    makes its sites plan again now and at its boundaries: best effort, bounded. The event is in the
    database already; every plan of its sites keeps to it (at the latest at their
    15-minute tick) whether or not the workflow is reached."""

    async def go() -> None:
        client = await request.app.state.temporal.client()
        ident = dr_workflow_id(schedule.event_id)
        if cancelled:
            await client.get_workflow_handle(ident).execute_update(DemandResponseWorkflow.cancel)
            return
        # Started if it is not running, told of the change either way; the update's
        # validator refuses a change to an event that is over.
        await client.execute_update_with_start_workflow(
            DemandResponseWorkflow.change,
            schedule,
            start_workflow_operation=WithStartWorkflowOperation(
                DemandResponseWorkflow.run,
                schedule,
                id=ident,
                task_queue=request.app.state.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=f"Demand-response event {schedule.event_id}",
            ),
        )

    try:
        await asyncio.wait_for(go(), WORKFLOW_TIMEOUT_S)
    except Exception as error:
        log.warning("event %s: its workflow was not reached: %s", schedule.event_id, error)


NUMERIC = {"IMPORT_CAPACITY_LIMIT", "EXPORT_CAPACITY_LIMIT", "PRICE"}


def _bad(reason: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, reason)


def intervals_of(event: EventIn) -> list[tuple[int, datetime, datetime]]:
    """Each interval's (id, start, end); 400 when one has no time or two overlap."""
    spans = []
    default = event.intervalPeriod
    next_start = default.start if default is not None else None
    for interval in event.intervals:
        if interval.intervalPeriod is not None:
            start, duration = interval.intervalPeriod.start, interval.intervalPeriod.duration
        elif default is not None and next_start is not None:
            start, duration = next_start, default.duration
        else:
            raise _bad(f"interval {interval.id} has no intervalPeriod and the event none")
        if duration <= timedelta(0):
            raise _bad(f"interval {interval.id}: its duration must be positive")
        spans.append((interval.id, start, start + duration))
        next_start = start + duration
    ids = [i for i, _, _ in spans]
    if len(set(ids)) != len(ids):
        raise _bad("interval ids must be unique")
    for (a, _, a_end), (b, b_start, _) in itertools.pairwise(sorted(spans, key=lambda s: s[1])):
        if b_start < a_end:
            raise _bad(f"intervals {a} and {b} overlap")
    return spans


def _check(
    event: EventIn, program: DrProgram, utility: Utility, now: datetime
) -> tuple[datetime, datetime]:
    """The event's start and end, once it is found sound (400 with the reason if not)."""
    _check_targets(utility, event.targets)
    spans = intervals_of(event)
    starts, ends = min(s for _, s, _ in spans), max(e for _, _, e in spans)
    if ends <= now:
        raise _bad(f"the event ended at {ends.isoformat()}: it is in the past")
    allowed = {d["payloadType"] for d in program.body.get("payloadDescriptors") or []}
    for interval in event.intervals:
        for payload in interval.payloads:
            if allowed and payload.type not in allowed:
                raise _bad(
                    f"interval {interval.id}: payload type {payload.type} is not one the "
                    f"program allows ({', '.join(sorted(allowed))})"
                )
            for value in payload.values:
                _check_value(interval.id, payload.type, value)
    return starts, ends


def _check_value(interval_id: int, kind: str, value: float | int | str | bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        if kind in NUMERIC or kind == "SIMPLE":
            raise _bad(f"interval {interval_id}: {kind} values are numbers")
        return
    if kind.endswith("CAPACITY_LIMIT") and value < 0:
        raise _bad(f"interval {interval_id}: a capacity limit cannot be negative")
    if kind == "SIMPLE" and value not in (0, 1, 2, 3):
        raise _bad(f"interval {interval_id}: SIMPLE levels are 0, 1, 2 or 3")


@router.get("")
async def search_events(
    utility: Utility,
    session: Session,
    programID: str | None = None,
    skip: Skip = 0,
    limit: Limit = 50,
) -> list[dict[str, Any]]:
    """The utility's events (of one program with ``programID``), by start."""
    query = select(DrEvent).where(DrEvent.client_id == utility.client_id)
    if programID is not None:
        query = query.where(DrEvent.program_id == programID)
    rows = await session.scalars(
        query.order_by(DrEvent.starts_at, DrEvent.id).offset(skip).limit(limit)
    )
    return [row.body for row in rows]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_event(
    body: EventIn, utility: EventWriter, session: Session, request: Request
) -> dict[str, Any]:
    """A new event of one of the utility's programs; the sites it targets re-plan."""
    program = await _program(session, utility, body.programID)
    now = datetime.now(UTC)
    starts, ends = _check(body, program, utility, now)
    ident = str(uuid.uuid4())
    event = DrEvent(
        id=ident,
        client_id=utility.client_id,
        program_id=program.id,
        body=served("EVENT", ident, now, now, body),
        starts_at=starts,
        ends_at=ends,
        created_at=now,
        modified_at=now,
    )
    session.add(event)
    sites = targeted(event.body, utility)
    calls = await notify.queue(
        session, utility.client_id, "EVENT", "POST", event.body, program.id, sites
    )
    await session.commit()
    # Its workflow makes the sites plan at once (it starts with the "changed" signal).
    await _follow(request, schedule_of(ident, body, sites))
    await notify.send(request, calls)
    return event.body


async def _program(session: Any, utility: Utility, program_id: str) -> DrProgram:
    try:
        return await own_program(session, utility, program_id)
    except HTTPException:
        raise _bad(f"unknown program {program_id!r}") from None


async def _own_event(session: Any, utility: Utility, event_id: str) -> DrEvent:
    event = await session.get(DrEvent, event_id)
    if event is None or event.client_id != utility.client_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"event {event_id!r} not found")
    return event


@router.get("/{event_id}")
async def get_event(event_id: str, utility: Utility, session: Session) -> dict[str, Any]:
    """One of the utility's events."""
    return (await _own_event(session, utility, event_id)).body


@router.put("/{event_id}")
async def update_event(
    event_id: str, body: EventIn, utility: EventWriter, session: Session, request: Request
) -> dict[str, Any]:
    """Replace an event (checked as a new one; its id and creation time stay); its
    workflow makes the sites it targeted and targets plan again."""
    event = await _own_event(session, utility, event_id)
    program = await _program(session, utility, body.programID)
    now = datetime.now(UTC)
    starts, ends = _check(body, program, utility, now)
    event.program_id, event.starts_at, event.ends_at = program.id, starts, ends
    event.body = served("EVENT", event.id, event.created_at, now, body)
    event.modified_at = now
    sites = targeted(event.body, utility)
    calls = await notify.queue(
        session, utility.client_id, "EVENT", "PUT", event.body, program.id, sites
    )
    await session.commit()
    await _follow(request, schedule_of(event.id, body, sites))
    await notify.send(request, calls)
    return event.body


@router.delete("/{event_id}")
async def delete_event(
    event_id: str, utility: EventWriter, session: Session, request: Request
) -> dict[str, Any]:
    """Cancel an event; answers the object as it was. Its sites re-plan without it."""
    event = await _own_event(session, utility, event_id)
    body = event.body
    calls = await notify.queue(
        session,
        utility.client_id,
        "EVENT",
        "DELETE",
        body,
        event.program_id,
        targeted(body, utility),
    )
    await session.delete(event)
    await session.commit()
    await _follow(request, DrSchedule(event_id, [], []), cancelled=True)
    await notify.send(request, calls)
    return body
