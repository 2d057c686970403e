"""Charging sessions: listing from the database, live state from the session workflow."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, TypeVar

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import Transaction
from activities.persistence.repositories import cdrs, meter_samples, transactions
from activities.temporal_link import TemporalLink
from api.auth import Viewer
from api.deps import IdInPath, Session, Temporal
from api.errors import not_found
from api.schemas import (
    CdrOut,
    LiveSession,
    MeterSampleOut,
    SessionDetail,
    SessionOut,
    UtcDateTime,
)
from workflows.charging_session import ChargingSessionWorkflow, SessionView

router = APIRouter(prefix="/sessions", tags=["sessions"])
S = TypeVar("S", bound=SessionOut)

QUERY_TIMEOUT = timedelta(seconds=3)


def _out(tx: Transaction, model: type[S]) -> S:
    out = model.model_validate(tx)
    out.workflow_id = tx.session_workflow
    return out


@router.get("")
async def list_sessions(
    session: Session,
    _: Viewer,
    station_id: str | None = None,
    site_id: str | None = None,
    status_: Literal["active", "stopped", "completed"] | None = Query(None, alias="status"),
    started_after: UtcDateTime | None = None,
    started_before: UtcDateTime | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**63 - 1),
) -> list[SessionOut]:
    """Sessions, newest first, filtered by station, site, status or start time."""
    rows = await transactions.list_transactions(
        session,
        station_id=station_id,
        site_id=site_id,
        status=status_,
        started_after=started_after,
        started_before=started_before,
        limit=limit,
        offset=offset,
    )
    return [_out(tx, SessionOut) for tx in rows]


async def _live(
    temporal: TemporalLink, workflow_id: str, measured: Measured
) -> tuple[LiveSession | None, str | None]:
    """The workflow's state with the live figures read from the stored samples.

    The gateway sends the workflow no progress signals (a long session's history
    would approach Temporal's limit): energy and power come from the database.
    """
    try:
        client = await temporal.client()
        view: SessionView = await asyncio.wait_for(
            client.get_workflow_handle(workflow_id).query(ChargingSessionWorkflow.state),
            QUERY_TIMEOUT.total_seconds(),
        )
    except Exception as exc:  # the database view still answers without Temporal
        return None, f"live state unavailable: {type(exc).__name__}: {exc}"[:300]
    running = view.stopped_at is None
    return (
        LiveSession(
            state=view.state.value,
            energy_so_far_wh=measured.energy_wh if view.cdr is None else view.cdr.energy_wh,
            power_w=measured.power_w if running else None,
            stopped_at=view.stopped_at,
            stop_reason=view.stop_reason,
        ),
        None,
    )


@dataclass(frozen=True)
class Measured:
    """A session's figures so far, from its stored samples."""

    energy_wh: float
    power_w: float | None


async def _measured(session: AsyncSession, tx: Transaction) -> Measured:
    low, high = await meter_samples.energy_register_range(session, tx.station_id, tx.id)
    start = tx.meter_start_wh if tx.meter_start_wh is not None else low
    end = tx.meter_stop_wh if tx.meter_stop_wh is not None else high
    energy = max(0.0, end - start) if start is not None and end is not None else 0.0
    power = await meter_samples.last_power(session, tx.station_id, tx.id)
    return Measured(energy_wh=energy, power_w=power[0] if power else None)


@router.get("/{session_id}")
async def get_session(
    session_id: IdInPath,
    session: Session,
    temporal: Temporal,
    _: Viewer,
    samples_limit: int = Query(1000, ge=0, le=10_000),
) -> SessionDetail:
    """A session with its workflow's live state, its meter samples and its CDR."""
    tx = await transactions.get_transaction(session, session_id)
    if tx is None:
        raise not_found("session", session_id)
    detail = _out(tx, SessionDetail)
    workflow_id = detail.workflow_id or ""
    samples = await meter_samples.samples_for(session, tx.station_id, tx.id, limit=samples_limit)
    detail.samples = [MeterSampleOut.model_validate(s) for s in samples]
    cdr = await cdrs.get_for_transaction(session, tx.id)
    detail.cdr = CdrOut.model_validate(cdr) if cdr else None
    measured = await _measured(session, tx)
    # Give the connection back before waiting on Temporal.
    await session.close()
    detail.live, detail.live_error = await _live(temporal, workflow_id, measured)
    return detail
