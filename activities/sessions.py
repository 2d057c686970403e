"""Activities of the charging-session workflow: settle a finished session into a CDR."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.billing.cdr_pricing import PricedCdr, SettledSession, price_cdr, site_flat_tariff
from activities.persistence.database import Database, unavailable
from activities.persistence.group_commit import GroupCommit
from activities.persistence.models import (
    ChargeDetailRecordRow,
    Site,
    TariffVersion,
    Transaction,
)
from activities.persistence.repositories import (
    accounts,
    cdrs,
    meter_samples,
    payment_holds,
    reconciliation,
    remote_starts,
    sites,
    status_history,
    tariffs,
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
TRACER = trace.get_tracer("csms.activities")


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


def _to_domain(row: ChargeDetailRecordRow, payment_hold: str | None = None) -> ChargeDetailRecord:
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
        total_excl_vat=None if row.total_excl_vat is None else str(row.total_excl_vat),
        tariff_id=row.tariff_id,
        tariff_version=row.tariff_version,
        payment_hold=payment_hold,
    )


@dataclass(frozen=True)
class HoldMissed:
    """Input of :meth:`SessionActivities.record_hold_missed`."""

    cdr: ChargeDetailRecord
    error: str


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

    @activity.defn(name="record_hold_missed")
    async def record_hold_missed(self, missed: HoldMissed) -> None:
        """Put a CDR whose card hold could not take its total into reconciliation:
        the session is unpaid until someone collects it otherwise."""
        cdr = missed.cdr
        async with self._db.sessions.begin() as session:
            reconciliation.add_item(
                session,
                station_id=cdr.station_id,
                kind="PaymentHoldMissed",
                payload={
                    "payment_hold": cdr.payment_hold,
                    "transaction_id": cdr.transaction_id,
                    "total_cost": cdr.total_cost,
                    "currency": cdr.currency,
                },
                note=f"transaction {cdr.transaction_id}: {missed.error}"[:2000],
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
            with TRACER.start_as_current_span("db write charge_detail_records"):
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
    todo = [(request, tx) for request, tx in zip(requests, txs, strict=True) if tx.id not in done]
    for request, tx in todo:
        # The workflow's stop is authoritative (it may come from a timeout).
        stop = request.stop
        await transactions.record_stop(
            tx, meter_stop_wh=stop.meter_stop_wh, stopped_at=stop.stopped_at, reason=stop.reason
        )
    facts = await _pricing_facts(session, [tx for _, tx in todo], [r.stop for r, _ in todo])
    now = datetime.now(UTC)
    new: list[ChargeDetailRecordRow] = []
    for (request, tx), fact in zip(todo, facts, strict=True):
        if tx.id not in done:  # a request repeated within the batch
            done[tx.id] = _new_cdr(session, tx, request.stop, fact, now)
            new.append(done[tx.id])
    await session.flush()
    rows = [done[tx.id] for tx in txs]
    # An ad-hoc session's card hold, claimed in the CDR's own transaction: captured
    # once, whichever settlement runs.
    holds = await payment_holds.claim(session, rows, new=new)
    return [_to_domain(row, holds.get(row.id)) for row in rows]


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


@dataclass
class _Facts:
    """What pricing one session reads from the database."""

    samples: meter_samples.PricingSamples | None
    reported: list[status_history.Reported]
    site: Site | None
    tariff: TariffVersion | None
    customer_group: str
    account_id: str | None


async def _pricing_facts(
    session: AsyncSession, txs: Sequence[Transaction], stops: Sequence[SessionStopped]
) -> list[_Facts]:
    """Samples, status history, site and tariff of each session: a query per table."""
    ends = [tx.stopped_at or stop.stopped_at for tx, stop in zip(txs, stops, strict=True)]
    samples = await meter_samples.pricing_samples(session, [(tx.station_id, tx.id) for tx in txs])
    reported = await status_history.during(
        session,
        [
            status_history.Span(tx.station_id, tx.evse_id, tx.started_at, max(end, tx.started_at))
            for tx, end in zip(txs, ends, strict=True)
        ],
    )
    site_of = await sites.get_sites(session, {tx.site_id for tx in txs if tx.site_id})
    # The driver's account (its token's owner now) picks the customer group's tariff.
    owner_of = await accounts.owners(session, {tx.id_token for tx in txs if tx.id_token})
    owners = [owner_of.get(tx.id_token) if tx.id_token else None for tx in txs]
    groups = [owner.customer_group if owner is not None else "public" for owner in owners]
    placed = [
        (k, tariffs.Place(tx.site_id, tx.station_id, tx.evse_id, groups[k], tx.started_at))
        for k, tx in enumerate(txs)
        if tx.site_id
    ]
    versions = await tariffs.tariffs_for(session, [place for _, place in placed])
    tariff_of: dict[int, TariffVersion | None] = {
        k: version for (k, _), version in zip(placed, versions, strict=True)
    }
    return [
        _Facts(
            samples.get(tx.id),
            reported[k],
            site_of.get(tx.site_id) if tx.site_id else None,
            tariff_of.get(k),
            groups[k],
            owner.id if owner is not None else None,
        )
        for k, (tx, owner) in enumerate(zip(txs, owners, strict=True))
    ]


def _new_cdr(
    session: AsyncSession,
    tx: Transaction,
    stop: SessionStopped,
    facts: _Facts,
    now: datetime,
) -> ChargeDetailRecordRow:
    """The CDR of ``tx`` (added to ``session``), priced and its times checked."""
    low, high = facts.samples.register_range if facts.samples else (None, None)
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
    settled = SettledSession(
        started_at=tx.started_at,
        stopped_at=stopped_at,
        energy_wh=energy,
        meter_start_wh=tx.meter_start_wh if tx.meter_start_wh is not None else low,
        energy_samples=facts.samples.energy if facts.samples else (),
        current_samples=facts.samples.current if facts.samples else (),
        reported=[(r.at, r.state, r.source) for r in facts.reported],
        time_zone=facts.site.time_zone if facts.site else "UTC",
    )
    priced = _priced(session, tx, settled, facts, notes)
    notes.extend(priced.notes)
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
        price_per_kwh=priced.price_per_kwh,
        currency=priced.currency,
        total_cost=priced.total_incl_vat,
        total_excl_vat=priced.total_excl_vat,
        total_vat=priced.total_vat,
        stop_reason=tx.stop_reason,
        notes=notes,
        id_token=tx.id_token,
        customer_group=facts.customer_group,
        account_id=facts.account_id,
        tariff_id=priced.tariff_id,
        tariff_version=priced.tariff_version,
        cost_lines=priced.cost_lines,
        charging_periods=priced.charging_periods,
        totals=priced.totals,
    )
    session.add(row)
    tx.status = "completed"
    log.info("settled %s of %s: %.0f Wh", tx.transaction_ref, tx.station_id, energy)
    return row


def _priced(
    session: AsyncSession,
    tx: Transaction,
    settled: SettledSession,
    facts: _Facts,
    notes: list[str],
) -> PricedCdr:
    """The session priced by its tariff version, else by the site's flat price, else
    at zero. A tariff that fails to price it (a fault of ours) still gives a CDR, at
    the site's flat price, and a reconciliation item that says why."""
    if facts.tariff is not None:
        try:
            return price_cdr(tariffs.as_tariff(facts.tariff), facts.tariff.version, settled)
        except Exception as error:  # the CDR must still be written
            log.exception("%s: tariff %s failed", tx.ref, facts.tariff.tariff_id)
            reconciliation.add_item(
                session,
                station_id=tx.station_id,
                kind="CdrNotPriced",
                payload={
                    "transaction": tx.ref,
                    "tariff_id": facts.tariff.tariff_id,
                    "version": facts.tariff.version,
                },
                note=f"{type(error).__name__}: {error}"[:2000],
            )
            notes.append(
                f"tariff {facts.tariff.tariff_id} v{facts.tariff.version} could not price "
                "the session: priced at the site's flat price"
            )
    if facts.site is None:
        notes.append("no site tariff: priced at 0")
        flat = site_flat_tariff("none", Decimal(0), "EUR")
    else:
        flat = site_flat_tariff(facts.site.id, facts.site.price_per_kwh, facts.site.currency)
    return price_cdr(flat, None, settled)
