"""A station's transaction messages applied to its transactions, whatever OCPP version.

Resolve the message to its transaction (station-scoped: a message never reaches
another station's row), drop repeats, apply what it changes
(:mod:`gateway.transaction_facts`), match remote starts and reservations
(:mod:`gateway.claims`), and write the lifecycle events to the outbox in the
same database transaction; the relay delivers them once it commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import OutboxEvent, Transaction
from activities.persistence.repositories import meter_samples, outbox, reconciliation, transactions
from activities.persistence.types import to_json
from gateway import claims
from gateway import transaction_facts as facts
from gateway.connection import StationContext
from gateway.outbox_relay import INPUT_IS_START, SESSION_STARTED, SESSION_STOPPED
from gateway.services import GatewayServices
from gateway.smart_sites import SmartSites
from gateway.wakeups import Wakeups
from workflows.domain import (
    Authorization,
    AuthorizationStatus,
    SessionStarted,
    SessionStopped,
    TransactionEvent,
    TransactionEventKind,
    energy_register,
)

log = logging.getLogger(__name__)


def session_started(tx: Transaction, *, smart_charging: bool = False) -> SessionStarted:
    """The domain event for a stored transaction."""
    return SessionStarted(
        station_id=tx.station_id,
        site_id=tx.site_id,
        connector_id=tx.connector_id,
        transaction_id=tx.ref,
        id_token=tx.id_token,
        meter_start_wh=tx.meter_start_wh,
        started_at=tx.started_at,
        ocpp_version=tx.ocpp_version,
        evse_id=tx.evse_id,
        smart_charging=smart_charging,
        transaction_pk=tx.id,
    )


@dataclass(frozen=True)
class TransactionOutcome:
    """What a transaction message resolved to."""

    transaction_pk: int | None
    transaction_ref: str | None
    authorization: Authorization | None
    # 2.x sequence numbers the transaction's end leaves missing (messages not received).
    missing_seq_nos: tuple[int, ...] = ()


async def note_corrections(
    session: AsyncSession,
    station_id: str,
    action: str,
    payload: dict[str, Any],
    notes: list[str] | tuple[str, ...],
) -> None:
    """Keep what the edge corrected in a message for an operator to see."""
    reconciliation.add_item(
        session,
        station_id=station_id,
        kind=f"{action}Corrected",
        payload=payload,
        note="; ".join(notes)[:2000],
    )


class TransactionEvents:
    """Applies transaction messages for one gateway node."""

    def __init__(
        self, services: GatewayServices, smart_sites: SmartSites, wakeups: Wakeups
    ) -> None:
        self.services = services
        self.smart_sites = smart_sites
        self.wakeups = wakeups

    async def apply(self, ctx: StationContext, event: TransactionEvent) -> TransactionOutcome:
        authorization = (
            await self.services.authorizer.authorize(event.id_token)
            if event.id_token is not None
            else None
        )
        if event.kind is TransactionEventKind.ENDED:
            # Samples still buffered must be in the database before the workflow settles.
            await self.services.samples.flush()
        if ctx.site_id is not None:
            await self.smart_sites.refresh(ctx.site_id)
        events: list[OutboxEvent] = []
        ended: list[str] = []  # workflows of reservations this transaction used
        async with self.services.db.sessions.begin() as session:
            tx, created = await self._resolve(session, ctx, event)
            if tx is None:
                await self._note(session, ctx, event)
                reconciliation.add_item(
                    session,
                    station_id=ctx.station_id,
                    kind=f"Transaction{event.kind.value}",
                    payload=to_json(event),
                    note="unknown transaction id",
                )
                log.warning(
                    "%s sent %s for unknown transaction %s",
                    ctx.station_id,
                    event.kind.value,
                    event.transaction_ref,
                )
                return TransactionOutcome(None, event.transaction_ref, authorization)
            if not created and event.seq_no is not None and event.seq_no in (tx.seq_nos or []):
                # A repeat (the charger did not see our answer): nothing more to do.
                return TransactionOutcome(tx.id, tx.transaction_ref, authorization)
            facts.note_event(tx, event)
            if event.kind is TransactionEventKind.STARTED and not created:
                facts.late_start(tx, event)
            stop = (
                await facts.stop_of(tx, event) if event.kind is TransactionEventKind.ENDED else None
            )
            # A 1.6 stop carries no sequence number: a repeat is a stop of a stopped one.
            repeated_stop = (
                event.kind is TransactionEventKind.ENDED and stop is None and event.seq_no is None
            )
            # A charger retrying a message it got no answer to: its corrections are noted.
            repeated_start = (
                event.kind is TransactionEventKind.STARTED and not created and event.seq_no is None
            )
            if not (repeated_stop or repeated_start):
                await self._note(session, ctx, event)
            if event.readings and not repeated_stop:
                await meter_samples.add_samples(
                    session,
                    meter_samples.rows_of(
                        event.readings,
                        station_id=ctx.station_id,
                        evse_id=tx.evse_id,
                        connector_id=tx.connector_id,
                        transaction_pk=tx.id,
                    ),
                )
            if created:
                allowed, used = await claims.claim(session, ctx, tx, event)
                if used is not None:
                    ended.append(used)
                if not allowed:
                    # Recorded like any transaction (nothing is lost), but the
                    # charger is told the token may not charge here.
                    log.warning(
                        "%s: transaction on a connector reserved for another token", ctx.station_id
                    )
                    authorization = Authorization(AuthorizationStatus.INVALID)
                events.append(self._enqueue(session, SESSION_STARTED, tx, None))
            if stop is not None:
                events.append(self._enqueue(session, SESSION_STOPPED, tx, stop))
            elif event.kind is TransactionEventKind.ENDED and facts.disagrees(tx, event):
                reconciliation.add_item(
                    session,
                    station_id=ctx.station_id,
                    kind="LateTransactionEnded",
                    payload=to_json(event),
                    note=f"transaction already closed ({tx.stop_reason}, "
                    f"meter stop {tx.meter_stop_wh} Wh)",
                )
            ref = tx.ref
            pk = tx.id
            missing: tuple[int, ...] = ()
            if event.kind is TransactionEventKind.ENDED and tx.seq_nos:
                seen = set(tx.seq_nos)
                missing = tuple(n for n in range(min(seen), max(seen)) if n not in seen)
        for row in events:
            self.services.relay.submit(row)
        for workflow_id in ended:
            self.wakeups.signal(workflow_id, "ended", "used")
        return TransactionOutcome(pk, ref, authorization, missing)

    @staticmethod
    async def _note(session: AsyncSession, ctx: StationContext, event: TransactionEvent) -> None:
        """What the edge corrected in the message, for an operator (once per message)."""
        if event.notes:
            await note_corrections(
                session,
                ctx.station_id,
                f"Transaction{event.kind.value}",
                to_json(event),
                event.notes,
            )

    async def _resolve(
        self, session: AsyncSession, ctx: StationContext, event: TransactionEvent
    ) -> tuple[Transaction | None, bool]:
        """The event's transaction, creating it when the event may start one."""
        reused = False
        if event.transaction_ref is not None:
            tx = await transactions.get_by_ref(
                session, ctx.station_id, event.transaction_ref, for_update=True
            )
            if ctx.ocpp_version == "1.6":
                return tx, False  # 1.6 never creates a transaction from a stop
            if tx is not None and event.timestamp < tx.started_at:
                earlier = await transactions.earlier_by_ref(
                    session, ctx.station_id, event.transaction_ref, before_pk=tx.id
                )
                if earlier is not None and facts.belongs_before(tx, earlier, event):
                    return earlier, False  # never the newer session of the same id
            if tx is not None and not facts.begins_anew(tx, event):
                return tx, False
            reused = tx is not None
            if reused:
                log.info(
                    "%s reuses transaction id %s after it ended: a new session",
                    ctx.station_id,
                    event.transaction_ref,
                )
        elif event.kind is not TransactionEventKind.STARTED:
            return None, False
        # A start, or the first message seen of a 2.x transaction that began offline.
        register = event.register_wh
        if register is None and event.kind is TransactionEventKind.STARTED:
            reading = energy_register(event.readings)
            register = round(reading) if reading is not None else None
        outcome = await transactions.start_transaction(
            session,
            station_id=ctx.station_id,
            site_id=ctx.site_id,
            evse_id=event.evse_id,
            connector_id=event.connector_id,
            id_token=event.id_token,
            meter_start_wh=register,
            started_at=event.timestamp,
            ocpp_version=ctx.ocpp_version,
            transaction_ref=event.transaction_ref,
            remote_start_id=event.remote_start_id,
            reused=reused,
            unusable_time=event.unusable_time,
        )
        tx = outcome.transaction
        if not outcome.created:
            return tx, False
        if event.transaction_ref is not None:
            # 2.x rows are updated below; load the attached row instead of the plain copy.
            attached = await transactions.get_transaction(session, tx.id)
            return attached, True
        return tx, True

    def _enqueue(
        self, session: AsyncSession, kind: str, tx: Transaction, stop: SessionStopped | None
    ) -> OutboxEvent:
        smart = self.smart_sites.cached(tx.site_id)
        payload: dict[str, Any] = {
            "start": to_json(session_started(tx, smart_charging=smart)),
            # The workflow runs with this start as its input (not a remote start's
            # request): the relay may deliver start and stop in one call.
            INPUT_IS_START: tx.session_input_is_start,
        }
        if stop is not None:
            payload["stop"] = to_json(stop)
        return outbox.enqueue(
            session,
            node_id=self.services.config.node_id,
            kind=kind,
            workflow_id=tx.session_workflow,
            payload=payload,
        )
