"""What a gateway node does with a station's messages, whatever OCPP version carried them.

The version modules (:mod:`gateway.ocpp16`, :mod:`gateway.ocpp2`) translate
frames into the domain types of :mod:`workflows.domain` and call this service;
it answers what only the gateway can answer fast and hands every lifecycle
event to Temporal through the outbox. Transaction messages are always
acknowledged: an unknown transaction goes to the reconciliation inbox, never
to an error the charger would retry forever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.converter import value_to_type

from activities.persistence.database import unavailable
from activities.persistence.models import OutboxEvent, Transaction
from activities.persistence.repositories import (
    meter_samples,
    outbox,
    reconciliation,
    stations,
    transactions,
)
from activities.persistence.types import to_json
from gateway import claims
from gateway import transaction_facts as facts
from gateway.connection import StationContext
from gateway.notices import Notices
from gateway.outbox_relay import SESSION_STARTED, SESSION_STOPPED
from gateway.rpc import ErrorKind, OcppError
from gateway.services import GatewayServices
from gateway.smart_sites import SmartSites
from gateway.timestamps import utcnow
from gateway.wakeups import Wakeups
from workflows.domain import (
    Authorization,
    AuthorizationStatus,
    ConnectorStatus,
    MeterReading,
    RegistrationStatus,
    SessionStarted,
    SessionStopped,
    StationIdentity,
    TransactionEvent,
    TransactionEventKind,
    energy_register,
)

log = logging.getLogger(__name__)

REJECTED_RETRY_S = 3600
"""A rejected station is told to come back after an hour."""


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
class SpooledMeterValues:
    """A MeterValues message as the spool keeps it."""

    evse_id: int
    connector_id: int
    transaction_pk: int | None
    transaction_ref: str | None
    readings: tuple[MeterReading, ...]
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class TransactionOutcome:
    """What a transaction message resolved to."""

    transaction_pk: int | None
    transaction_ref: str | None
    authorization: Authorization | None


class StationService:
    """Version-neutral handling of station messages for one gateway node."""

    def __init__(self, services: GatewayServices) -> None:
        self.services = services
        self.smart_sites = SmartSites(services.writes)
        self.wakeups = Wakeups(services.temporal)
        self.notices = Notices(services, self.smart_sites, self.wakeups)

    async def boot(self, ctx: StationContext, identity: StationIdentity) -> RegistrationStatus:
        """Record what the station reported; answer its registration state."""
        now = utcnow()
        found = await self.services.writes.run_batched(
            stations.record_boot, stations.Boot(ctx.station_id, identity, now)
        )
        if found is None:  # deleted while connected
            raise OcppError(ErrorKind.SECURITY, "station is not registered")
        status = RegistrationStatus(found[0])
        # An operator may have approved it, or moved it to a site, since it connected.
        ctx.site_id = found[1]
        ctx.registration_status = status.value
        return status

    def boot_interval(self, status: RegistrationStatus) -> int:
        """Seconds until the next heartbeat, or until a rejected station may retry."""
        if status is RegistrationStatus.REJECTED:
            return REJECTED_RETRY_S
        return self.services.config.heartbeat_interval_s

    async def connector_status(self, ctx: StationContext, status: ConnectorStatus) -> None:
        """Store a connector's status."""
        await self.services.writes.run(
            lambda session: stations.set_connector_status(session, ctx.station_id, status)
        )

    async def authorize(self, token: str) -> Authorization:
        """The token's standing (cached per node)."""
        return await self.services.authorizer.authorize(token)

    async def meter_values(
        self,
        ctx: StationContext,
        *,
        evse_id: int,
        connector_id: int,
        transaction_pk: int | None,
        transaction_ref: str | None,
        readings: list[MeterReading],
        dropped: list[str] | None = None,
    ) -> None:
        """Store samples; with the database away, acknowledged from the spool."""
        values = SpooledMeterValues(
            evse_id,
            connector_id,
            transaction_pk,
            transaction_ref,
            tuple(readings),
            tuple(dropped or ()),
        )
        spool = self.services.spool
        if spool is not None and spool.waiting(ctx.station_id):
            await self._spool(ctx, "meter_values", {"meter_values": to_json(values)})
            return
        try:
            await self._apply_meter_values(ctx, values)
        except Exception as error:
            if spool is None or not unavailable(error):
                raise
            log.warning("%s: database unavailable, MeterValues spooled", ctx.station_id)
            await self._spool(ctx, "meter_values", {"meter_values": to_json(values)})

    async def _apply_meter_values(self, ctx: StationContext, values: SpooledMeterValues) -> None:
        """Store samples (group commit with other connections).

        Samples the edge dropped (not numbers, out of range) are noted in reconciliation.
        """
        dropped, transaction_ref = list(values.dropped), values.transaction_ref
        if dropped:
            await self.services.writes.run(
                lambda session: self._note_corrections(
                    session,
                    ctx.station_id,
                    "MeterValues",
                    {"transaction": transaction_ref},
                    dropped,
                )
            )
        rows = meter_samples.rows_of(
            values.readings,
            station_id=ctx.station_id,
            evse_id=values.evse_id,
            connector_id=values.connector_id,
            transaction_pk=values.transaction_pk,
        )
        if rows:  # answered once committed, with every connection's rows of the batch
            await self.services.samples.run_batched(meter_samples.add_sample_batches, rows)

    @staticmethod
    async def _note_corrections(
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

    async def transaction_event(
        self, ctx: StationContext, event: TransactionEvent
    ) -> TransactionOutcome:
        """Apply one transaction lifecycle message; idempotent for repeats. With the
        database away it is acknowledged from the node's spool (all but a 1.6 start,
        whose answer needs the id the database allocates)."""
        spool = self.services.spool
        spoolable = spool is not None and event.transaction_ref is not None
        if spoolable and spool is not None and spool.waiting(ctx.station_id):
            return await self._spool_event(ctx, event)
        try:
            return await self._apply_transaction_event(ctx, event)
        except Exception as error:
            if not (spoolable and unavailable(error)):
                raise
            log.warning("%s: database unavailable, %s spooled", ctx.station_id, event.kind.value)
            return await self._spool_event(ctx, event)

    async def _spool_event(
        self, ctx: StationContext, event: TransactionEvent
    ) -> TransactionOutcome:
        await self._spool(ctx, "transaction_event", {"event": to_json(event)})
        authorization = None
        if event.id_token is not None:
            # The standing last read, or Accepted: the driver is not stranded while the
            # database is away (the replay records the token's actual standing).
            authorization = self.services.authorizer.last_known(event.id_token) or Authorization(
                AuthorizationStatus.ACCEPTED
            )
        return TransactionOutcome(None, event.transaction_ref, authorization)

    async def _spool(self, ctx: StationContext, kind: str, payload: dict[str, Any]) -> None:
        spool = self.services.spool
        assert spool is not None
        payload = {**payload, "site_id": ctx.site_id, "ocpp_version": ctx.ocpp_version}
        if not await spool.add(ctx.station_id, kind, payload):
            raise OcppError(ErrorKind.INTERNAL, "storage unavailable and the spool is full")

    async def drain_spool(self) -> int:
        """Replay spooled messages in order while the database answers; how many went.

        A station whose replay fails keeps its later messages waiting; a message that
        fails for another reason than the database (it never will apply) goes to
        reconciliation, so the spool cannot stall on it.
        """
        spool = self.services.spool
        if spool is None or not len(spool):
            return 0
        done = 0
        blocked: set[str] = set()
        for message in await spool.oldest():
            if message.station_id in blocked:
                continue
            ctx = StationContext(
                station_id=message.station_id,
                site_id=message.payload.get("site_id"),
                registration_status="accepted",
                ocpp_version=message.payload.get("ocpp_version") or "1.6",
            )
            try:
                await self._replay(ctx, message.kind, message.payload)
            except Exception as error:
                if unavailable(error):
                    return done  # still away: try again later
                log.exception("%s: spooled %s does not apply", message.station_id, message.kind)
                note = [f"{type(error).__name__}: {error}"]
                async with self.services.db.sessions.begin() as session:
                    await self._note_corrections(
                        session, message.station_id, "Spooled", message.payload, note
                    )
            await spool.remove(message)
            done += 1
        return done

    async def _replay(self, ctx: StationContext, kind: str, payload: dict[str, Any]) -> None:
        if kind == "transaction_event":
            event = value_to_type(TransactionEvent, payload["event"])
            outcome = await self._apply_transaction_event(ctx, event)
            standing = outcome.authorization
            if standing is not None and standing.status is not AuthorizationStatus.ACCEPTED:
                # Accepted while the database was away: say what the token really was.
                async with self.services.db.sessions.begin() as session:
                    await self._note_corrections(
                        session,
                        ctx.station_id,
                        "Spooled",
                        {"event": payload["event"]},
                        [
                            f"token answered Accepted during a database outage; it is "
                            f"{standing.status.value}"
                        ],
                    )
        elif kind == "meter_values":
            values = value_to_type(SpooledMeterValues, payload["meter_values"])
            await self._apply_meter_values(ctx, values)
        else:
            raise ValueError(f"unknown spooled message kind {kind!r}")

    async def _apply_transaction_event(
        self, ctx: StationContext, event: TransactionEvent
    ) -> TransactionOutcome:
        authorization = await self.authorize(event.id_token) if event.id_token is not None else None
        if event.kind is TransactionEventKind.ENDED:
            # Samples still buffered must be in the database before the workflow settles.
            await self.services.samples.flush()
        if ctx.site_id is not None:
            await self.smart_sites.refresh(ctx.site_id)
        events: list[OutboxEvent] = []
        ended: list[str] = []  # workflows of reservations this transaction used
        async with self.services.db.sessions.begin() as session:
            if event.notes:
                await self._note_corrections(
                    session,
                    ctx.station_id,
                    f"Transaction{event.kind.value}",
                    to_json(event),
                    event.notes,
                )
            tx, created = await self._resolve(session, ctx, event)
            if tx is None:
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
        for row in events:
            self.services.relay.submit(row)
        for workflow_id in ended:
            self.wakeups.signal(workflow_id, "ended", "used")
        return TransactionOutcome(pk, ref, authorization)

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
        payload: dict[str, Any] = {"start": to_json(session_started(tx, smart_charging=smart))}
        if stop is not None:
            payload["stop"] = to_json(stop)
        return outbox.enqueue(
            session,
            node_id=self.services.config.node_id,
            kind=kind,
            workflow_id=tx.session_workflow,
            payload=payload,
        )
