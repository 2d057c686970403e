"""What a gateway node does with a station's messages, whatever OCPP version carried them.

The version modules (:mod:`gateway.ocpp16`, :mod:`gateway.ocpp2`) translate
frames into the domain types of :mod:`workflows.domain` and call this service;
it answers what only the gateway can answer fast (boot, status, authorization),
stores meter values, and keeps transaction messages and samples in the node's
spool while the database is away. Its parts: :mod:`gateway.transaction_events`
(transactions and their outbox events), :mod:`gateway.notices` (notifications
and the workflows they wake). Transaction messages are always acknowledged: an
unknown transaction goes to the reconciliation inbox, never to an error the
charger would retry forever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.converter import value_to_type

from activities.persistence.database import unavailable
from activities.persistence.models import Connector, OutboxEvent
from activities.persistence.repositories import meter_samples, stations
from activities.persistence.types import to_json
from gateway import health_facts
from gateway.certificates import StationCertificates
from gateway.connection import StationContext
from gateway.liveness import LivenessMonitor
from gateway.notices import Notices
from gateway.rpc import ErrorKind, OcppError
from gateway.running_cost import RunningCosts
from gateway.services import GatewayServices
from gateway.smart_sites import SmartSites
from gateway.symptoms import SymptomWatch
from gateway.timestamps import utcnow
from gateway.transaction_events import TransactionEvents, TransactionOutcome, note_corrections
from gateway.transaction_status import TransactionStatus
from gateway.wakeups import Wakeups
from workflows.domain import (
    Authorization,
    AuthorizationStatus,
    ConnectorStatus,
    MeterReading,
    RegistrationStatus,
    StationIdentity,
    TransactionEvent,
    TransactionEventKind,
)
from workflows.health import FactKind, StationFact

log = logging.getLogger(__name__)

DRAW_STATES = frozenset({"Charging", "SuspendedEV", "SuspendedEVSE"})
"""Statuses (1.6) and charging states (2.x) at which a car starts or stops drawing."""

REJECTED_RETRY_S = 3600
"""A rejected station is told to come back after an hour."""


async def _enqueued(
    session: AsyncSession, node_id: str, facts: list[StationFact]
) -> list[OutboxEvent]:
    return health_facts.enqueue_all(session, node_id, facts)


@dataclass(frozen=True)
class SpooledMeterValues:
    """A MeterValues message as the spool keeps it."""

    evse_id: int
    connector_id: int
    transaction_pk: int | None
    transaction_ref: str | None
    readings: tuple[MeterReading, ...]
    dropped: tuple[str, ...] = ()


class StationService:
    """Version-neutral handling of station messages for one gateway node."""

    def __init__(self, services: GatewayServices) -> None:
        self.services = services
        self.smart_sites = SmartSites(services.writes)
        self.wakeups = Wakeups(services.temporal)
        self.notices = Notices(services, self.smart_sites, self.wakeups)
        self.transactions = TransactionEvents(services, self.smart_sites, self.wakeups)
        self.running_costs = RunningCosts(services.db)
        self.certificates = StationCertificates(services)
        self.transaction_status = TransactionStatus(services)
        self.symptoms = SymptomWatch(services.config.symptoms)
        self.liveness = LivenessMonitor(services, also=[self.check_symptoms])

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
        if found[2] is not None:
            # A firmware update ends with this boot: its workflow compares versions.
            self.notices.booted(found[2], identity.firmware_version)
        await self.liveness.booted(ctx, status.value)
        fact = StationFact(
            station_id=ctx.station_id,
            kind=FactKind.BOOT,
            at=now,
            state=status.value,
            firmware_version=identity.firmware_version,
            ocpp_version=identity.ocpp_version,
        )
        await self.health_facts([fact])
        return status

    async def check_symptoms(self) -> None:
        """Report the telemetry patterns that began or ended (see gateway.symptoms)."""
        await self.health_facts(self.symptoms.check())

    async def health_facts(self, facts: list[StationFact]) -> None:
        """Tell the station's health workflow, through the outbox. Advisory for the
        message (it is answered either way); kept durably once written."""
        if not facts:
            return
        node_id = self.services.config.node_id
        try:
            rows = await self.services.writes.run(
                lambda session: _enqueued(session, node_id, facts)
            )
        except Exception as error:
            log.warning("%s: health facts not kept: %s", facts[0].station_id, error)
            return
        for row in rows:
            self.services.relay.submit(row)

    def boot_interval(self, status: RegistrationStatus) -> int:
        """Seconds until the next heartbeat, or until a rejected station may retry."""
        if status is RegistrationStatus.REJECTED:
            return REJECTED_RETRY_S
        return self.services.config.heartbeat_interval_s

    async def connector_status(self, ctx: StationContext, status: ConnectorStatus) -> None:
        """Store a connector's status; a car that stops or starts drawing (1.6
        SuspendedEV, Charging) makes a smart-charged site re-plan."""
        node_id = self.services.config.node_id

        async def store(session: AsyncSession) -> list[OutboxEvent]:
            known = await session.get(
                Connector, (ctx.station_id, status.evse_id, status.connector_id)
            )
            before = (
                None if known is None else (known.status, known.error_code, known.vendor_error_code)
            )
            newer = known is None or known.status_at <= status.at
            await stations.set_connector_status(session, ctx.station_id, status)
            fact = health_facts.status_fact(ctx.station_id, status, before) if newer else None
            # In the status's own transaction: a fault is never lost between the two.
            return [] if fact is None else [health_facts.enqueue(session, node_id, fact)]

        for row in await self.services.writes.run(store):
            self.services.relay.submit(row)
        self.symptoms.status(ctx.station_id, status.evse_id, status.connector_id, status.status)
        if status.status in DRAW_STATES:
            await self._draw_changed(ctx)

    async def _charging_state(self, ctx: StationContext, event: TransactionEvent) -> None:
        """2.x: keep a transaction's charging state when it changes, and let a
        smart-charged site re-plan (a paused car's capacity goes to the others)."""
        if event.kind is TransactionEventKind.STARTED:
            self.symptoms.started(ctx.station_id)
        state = event.charging_state
        if state is not None:
            self.symptoms.status(ctx.station_id, event.evse_id, event.connector_id, state)
        if state is None or (
            event.kind is not TransactionEventKind.STARTED
            and event.trigger_reason != "ChargingStateChanged"
        ):
            return
        try:
            await self.services.writes.run(
                lambda session: stations.set_charging_state(
                    session,
                    ctx.station_id,
                    event.evse_id,
                    event.connector_id,
                    state,
                    event.timestamp,
                )
            )
        except Exception as error:
            # Advisory (the plan also measures what each car draws): the message
            # itself is applied and acknowledged.
            log.warning("%s: charging state not kept: %s", ctx.station_id, error)
            return
        if state in DRAW_STATES:
            await self._draw_changed(ctx)

    async def _draw_changed(self, ctx: StationContext) -> None:
        site_id = ctx.site_id
        if site_id is not None and await self.smart_sites.refresh(site_id):
            self.wakeups.signal(f"site:{site_id}", "draw_changed")

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
                lambda session: note_corrections(
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
            self.symptoms.samples(
                ctx.station_id, values.evse_id, values.connector_id, values.readings
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
            outcome = await self.transactions.apply(ctx, event)
        except Exception as error:
            if not (spoolable and unavailable(error)):
                raise
            log.warning("%s: database unavailable, %s spooled", ctx.station_id, event.kind.value)
            return await self._spool_event(ctx, event)
        await self._charging_state(ctx, event)
        return outcome

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
                    await note_corrections(
                        session, message.station_id, "Spooled", message.payload, note
                    )
            await spool.remove(message)
            done += 1
        return done

    async def _replay(self, ctx: StationContext, kind: str, payload: dict[str, Any]) -> None:
        if kind == "transaction_event":
            event = value_to_type(TransactionEvent, payload["event"])
            outcome = await self.transactions.apply(ctx, event)
            standing = outcome.authorization
            if standing is not None and standing.status is not AuthorizationStatus.ACCEPTED:
                # Accepted while the database was away: say what the token really was.
                async with self.services.db.sessions.begin() as session:
                    await note_corrections(
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
