"""The running cost of 2.x transactions, for ``totalCost`` in TransactionEventResponse.

OCPP 2.0.1 (I02/I03) lets the CSMS tell the driver what the session costs so far in
the answer to each TransactionEvent, for a station whose ``TariffCostCtrlr`` has
``Enabled[Cost]`` set (as it reported it in a base report or GetVariables). The
cost is the pricing engine's, with the tariff version the CDR will use (the one in
force at the start for the driver's customer group), on the energy the station
reported so far, charging all the time: an estimate the CDR settles exactly (parked
time is known only from the status history afterwards).

One transaction's tariff, start and time zone are read once and kept while it runs;
a station that does not show costs costs one lookup per connection.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from activities.billing.cdr_pricing import site_flat_tariff
from activities.billing.pricing import CompiledTariff
from activities.billing.timeline import SessionTimeline, price_session
from activities.persistence.database import Database
from activities.persistence.models import Site, StationVariable, Transaction
from activities.persistence.repositories import accounts, tariffs
from gateway.connection import StationContext
from workflows.domain import TransactionEvent, TransactionEventKind, energy_register

log = logging.getLogger(__name__)

MAX_RUNNING = 50_000
"""Transactions whose pricing facts a node keeps at once."""
COST_ENABLED = "TariffCostCtrlr.Enabled[Cost]"
"""The 2.x device-model variable that says the station shows running costs."""


@dataclass
class _Running:
    tariff: CompiledTariff
    started_at: datetime
    meter_start_wh: Decimal | None
    time_zone: str
    register_wh: Decimal | None = None


class RunningCosts:
    """Running costs of the transactions of one gateway node."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # By transaction key, oldest first: a transaction whose end never came is
        # dropped when the node runs more than MAX_RUNNING at once.
        self._running: OrderedDict[int, _Running] = OrderedDict()

    async def total_cost(
        self, ctx: StationContext, event: TransactionEvent, transaction_pk: int | None
    ) -> Decimal | None:
        """The cost so far (VAT included) to answer ``event`` with, or None when the
        station shows no costs or the transaction cannot be priced."""
        if ctx.ocpp_version == "1.6" or transaction_pk is None:
            return None
        try:
            if not await self._shows_costs(ctx):
                return None
            running = self._running.get(transaction_pk) or await self._load(ctx, transaction_pk)
            if running is None:
                return None
            register = energy_register(event.readings)
            if register is None and event.register_wh is not None:
                register = float(event.register_wh)
            if register is not None:
                running.register_wh = Decimal(str(register))
                if running.meter_start_wh is None:  # no reading at the start: from here
                    running.meter_start_wh = running.register_wh
            stop = max(event.timestamp, running.started_at)
            start_wh = running.meter_start_wh
            priced = price_session(
                running.tariff,
                SessionTimeline(
                    start=running.started_at,
                    stop=stop,
                    meter_start_wh=start_wh if running.register_wh is not None else None,
                    meter_stop_wh=running.register_wh if start_wh is not None else None,
                    time_zone=running.time_zone,
                ),
            )
            total = priced.total
            return total.incl_vat if total.incl_vat is not None else total.excl_vat
        except Exception:  # the cost is a courtesy: the message itself is answered
            log.exception("%s: running cost not computed", ctx.station_id)
            return None
        finally:
            if event.kind is TransactionEventKind.ENDED:
                self._running.pop(transaction_pk, None)

    async def _shows_costs(self, ctx: StationContext) -> bool:
        known = ctx.shows_costs
        if known is None:
            async with self._db.sessions() as session:
                value = await session.scalar(
                    select(StationVariable.value).where(
                        StationVariable.station_id == ctx.station_id,
                        StationVariable.key == COST_ENABLED,
                    )
                )
            known = (value or "").strip().lower() == "true"
            ctx.shows_costs = known
        return known

    async def _load(self, ctx: StationContext, transaction_pk: int) -> _Running | None:
        async with self._db.sessions() as session:
            tx = await session.get(Transaction, transaction_pk)
            if tx is None or tx.station_id != ctx.station_id or tx.site_id is None:
                return None
            site = await session.get(Site, tx.site_id)
            if site is None:
                return None
            owners = await accounts.owners(session, [tx.id_token] if tx.id_token else [])
            owner = owners.get(tx.id_token or "")
            group = owner.customer_group if owner is not None else "public"
            (version,) = await tariffs.tariffs_for(
                session,
                [tariffs.Place(tx.site_id, tx.station_id, tx.evse_id, group, tx.started_at)],
            )
            tariff = (
                tariffs.as_tariff(version)
                if version is not None
                else site_flat_tariff(site.id, site.price_per_kwh, site.currency)
            )
            running = _Running(
                CompiledTariff(tariff),
                tx.started_at,
                None if tx.meter_start_wh is None else Decimal(tx.meter_start_wh),
                site.time_zone,
            )
        self._running[transaction_pk] = running
        while len(self._running) > MAX_RUNNING:
            self._running.popitem(last=False)
        return running
