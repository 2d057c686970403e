"""Activities of the charging-session workflow: settle a finished session into a CDR."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.billing import price_energy
from activities.persistence.database import Database, unavailable
from activities.persistence.group_commit import GroupCommit
from activities.persistence.models import ChargeDetailRecordRow, Site, Transaction
from activities.persistence.repositories import (
    cdrs,
    meter_samples,
    reconciliation,
    remote_starts,
    sites,
    transactions,
)
from activities.persistence.types import to_json
from workflows.domain import (
    ChargeDetailRecord,
    RemoteStartRequest,
    SessionStarted,
    SessionStopped,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SettleRequest:
    """Input of :meth:`SessionActivities.settle_session`."""

    start: SessionStarted
    stop: SessionStopped


def _energy_wh(
    start: int | None, stop: int | None, low: float | None, high: float | None
) -> tuple[float, list[str]]:
    """Energy of a session from its meter readings, cross-checked with the samples.

    ``low`` and ``high`` are the lowest and highest energy register among the
    stored samples; they stand in for a reading the charger did not report.
    """
    notes: list[str] = []
    if start is None:
        if low is None:
            notes.append("no meter start and no samples: energy set to 0")
            return 0.0, notes
        start = int(low)
        notes.append(f"meter start taken from the lowest sample ({start} Wh)")
    if stop is None:
        if high is None:
            notes.append("no meter stop and no samples: energy set to 0")
            return 0.0, notes
        stop = int(high)
        notes.append(f"meter stop taken from the highest sample ({stop} Wh)")
    if stop >= start:
        if high is not None and high > stop:
            notes.append(f"samples reached {high:.0f} Wh, above the meter stop {stop} Wh")
        return float(stop - start), notes
    # A meter that went backwards is a charger fault: fall back to the samples.
    notes.append(f"meter stop {stop} Wh below meter start {start} Wh")
    if high is not None and high >= start:
        notes.append("energy taken from the highest sampled register")
        return high - start, notes
    notes.append("no usable samples: energy set to 0")
    return 0.0, notes


FUTURE_SKEW = timedelta(minutes=5)
"""A charger's time this far ahead of ours is a clock error, not a fact."""
OFFLINE_LIMIT = timedelta(days=31)
"""Transactions older than this when first reported are taken for a clock error (an
offline queue rarely holds more)."""


def timing_notes(
    started_at: datetime, stopped_at: datetime, received_at: datetime, now: datetime
) -> list[str]:
    """What is implausible about a session's times, judged by the gateway's clock
    (``received_at``: when the start reached the CSMS; ``now``: settlement)."""
    notes = []
    if started_at > received_at + FUTURE_SKEW:
        notes.append(f"start {started_at.isoformat()} is after it was received")
    elif started_at < received_at - OFFLINE_LIMIT:
        notes.append(f"start {started_at.isoformat()} is over 31 days before it was received")
    if stopped_at > now + FUTURE_SKEW:
        notes.append(f"stop {stopped_at.isoformat()} is in the future")
    if stopped_at < started_at:
        notes.append(f"stop {stopped_at.isoformat()} is before the start")
    return [f"implausible time: {n} (charger clock?)" for n in notes]


def _to_domain(row: ChargeDetailRecordRow) -> ChargeDetailRecord:
    return ChargeDetailRecord(
        transaction_id=row.transaction_ref,
        station_id=row.station_id,
        site_id=row.site_id,
        connector_id=row.connector_id,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
        energy_wh=row.energy_wh,
        price_per_kwh=str(row.price_per_kwh),
        currency=row.currency,
        total_cost=str(row.total_cost),
        stop_reason=row.stop_reason,
        notes=list(row.notes or []),
    )


@dataclass(frozen=True)
class UnsettledSession:
    """Input of :meth:`SessionActivities.record_unsettled`."""

    request: SettleRequest
    error: str


@dataclass(frozen=True)
class RemoteStartRecord:
    """Input of :meth:`SessionActivities.record_remote_start`."""

    request: RemoteStartRequest
    workflow_id: str
    requested_at: datetime
    expires_at: datetime


class SessionActivities:
    """Session activities bound to a database."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Sessions that settle at the same time (a backlog after an outage, a busy
        # site) share one transaction and one query per table: see settle_batch.
        self._commits = GroupCommit(db, max_batch=SETTLE_BATCH, on_demand=True)

    @activity.defn(name="record_remote_start")
    async def record_remote_start(self, record: RemoteStartRecord) -> None:
        """Store a remote start so the gateway can match the charger's transaction to it."""
        request = record.request
        async with self._db.sessions.begin() as session:
            await remote_starts.record(
                session,
                station_id=request.station_id,
                remote_start_id=request.remote_start_id,
                id_token=request.id_token,
                evse_id=request.evse_id,
                connector_id=request.connector_id,
                workflow_id=record.workflow_id,
                requested_at=record.requested_at,
                expires_at=record.expires_at,
            )

    @activity.defn(name="expire_remote_start")
    async def expire_remote_start(self, request: RemoteStartRequest) -> bool:
        """End a remote start's wait for its transaction; True if the gateway matched a
        transaction to it first (the one decision both sides respect)."""
        async with self._db.sessions.begin() as session:
            return await remote_starts.expire(
                session,
                station_id=request.station_id,
                remote_start_id=request.remote_start_id,
                now=datetime.now(UTC),
            )

    @activity.defn(name="record_unsettled")
    async def record_unsettled(self, unsettled: UnsettledSession) -> None:
        """Put a session that will not settle into reconciliation, with the reason."""
        start = unsettled.request.start
        async with self._db.sessions.begin() as session:
            reconciliation.add_item(
                session,
                station_id=start.station_id,
                kind="SessionNotSettled",
                payload=to_json(unsettled.request),
                note=f"transaction {start.transaction_id}: {unsettled.error}"[:2000],
            )

    @activity.defn(name="settle_session")
    async def settle_session(self, request: SettleRequest) -> ChargeDetailRecord:
        """Compute energy, price it with the site's tariff and write the CDR.

        Idempotent: a retry after a crash returns the CDR already written. A database
        that cannot be reached is retried for as long as it takes (an outage must not
        cost a CDR); any other failure is final (non-retryable), and the workflow
        puts the session into reconciliation.
        """
        try:
            return await self._commits.run_batched(settle_batch, request)
        except ApplicationError:
            raise
        except Exception as error:
            if unavailable(error):
                raise
            raise ApplicationError(
                f"{type(error).__name__}: {error}"[:500],
                type="SettlementFailed",
                non_retryable=True,
            ) from error


SETTLE_BATCH = 200
"""Most settlements one transaction takes."""


async def settle_batch(
    session: AsyncSession, requests: Sequence[SettleRequest]
) -> list[ChargeDetailRecord]:
    """Settle sessions into CDRs in one transaction, one query per table for all.

    A transaction that is not stored, or not the requesting station's, fails the
    batch with a non-retryable error; the group commit then settles each request on
    its own, so only that one fails. Idempotent: a transaction with a CDR already
    gets that CDR back.
    """
    txs = await _transactions_of(session, requests)
    pending = {tx.id: tx for tx in txs}
    done: dict[int, ChargeDetailRecordRow] = dict(
        await cdrs.for_transactions(session, list(pending))
    )
    todo = [tx for pk, tx in pending.items() if pk not in done]
    ranges = await meter_samples.energy_register_ranges(
        session, [(tx.station_id, tx.id) for tx in todo]
    )
    tariffs = await sites.get_sites(session, {tx.site_id for tx in todo if tx.site_id})
    now = datetime.now(UTC)
    for request, tx in zip(requests, txs, strict=True):
        if tx.id not in done:
            done[tx.id] = await _new_cdr(
                session,
                tx,
                request.stop,
                ranges.get(tx.id, (None, None)),
                tariffs.get(tx.site_id) if tx.site_id else None,
                now,
            )
    await session.flush()
    return [_to_domain(done[tx.id]) for tx in txs]


async def _transactions_of(
    session: AsyncSession, requests: Sequence[SettleRequest]
) -> list[Transaction]:
    """Each request's transaction, never another station's."""
    pks = [r.start.transaction_pk for r in requests if r.start.transaction_pk is not None]
    by_pk = await transactions.get_transactions(session, pks)
    found: list[Transaction] = []
    for request in requests:
        start = request.start
        tx: Transaction | None
        if start.transaction_pk is not None:
            tx = by_pk.get(start.transaction_pk)
            if tx is not None and tx.station_id != start.station_id:
                tx = None  # never another station's row
        else:  # started before transactions carried their key
            tx = await transactions.get_by_ref(session, start.station_id, start.transaction_id)
        if tx is None:
            raise ApplicationError(
                f"transaction {start.transaction_id} of {start.station_id} is not stored",
                type="UnknownTransaction",
                non_retryable=True,
            )
        found.append(tx)
    return found


async def _new_cdr(
    session: AsyncSession,
    tx: Transaction,
    stop: SessionStopped,
    samples: tuple[float | None, float | None],
    site: Site | None,
    now: datetime,
) -> ChargeDetailRecordRow:
    """The CDR of ``tx`` (added to ``session``), its stop recorded and its times checked."""
    # The workflow's stop is authoritative (it may come from a timeout).
    await transactions.record_stop(
        tx, meter_stop_wh=stop.meter_stop_wh, stopped_at=stop.stopped_at, reason=stop.reason
    )
    low, high = samples
    energy, notes = _energy_wh(tx.meter_start_wh, tx.meter_stop_wh, low, high)
    stopped_at = tx.stopped_at or stop.stopped_at
    timing = timing_notes(tx.started_at, stopped_at, tx.created_at, now)
    if timing:
        notes.extend(timing)
        reconciliation.add_item(
            session,
            station_id=tx.station_id,
            kind="ImplausibleTimes",
            payload={
                "transaction": tx.transaction_ref,
                "started_at": tx.started_at.isoformat(),
                "stopped_at": stopped_at.isoformat(),
                "received_at": tx.created_at.isoformat(),
            },
            note="; ".join(timing),
        )
    if site is None:
        price, currency = Decimal("0"), "EUR"
        notes.append("no site tariff: priced at 0")
    else:
        price, currency = site.price_per_kwh, site.currency
    row = ChargeDetailRecordRow(
        transaction_pk=tx.id,
        transaction_ref=tx.ref,
        station_id=tx.station_id,
        site_id=tx.site_id,
        evse_id=tx.evse_id,
        connector_id=tx.connector_id,
        ocpp_version=tx.ocpp_version,
        started_at=tx.started_at,
        stopped_at=stopped_at,
        energy_wh=energy,
        price_per_kwh=price,
        currency=currency,
        total_cost=price_energy(energy, price),
        stop_reason=tx.stop_reason,
        notes=notes,
    )
    session.add(row)
    tx.status = "completed"
    log.info("settled %s of %s: %.0f Wh", tx.transaction_ref, tx.station_id, energy)
    return row
