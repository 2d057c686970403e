"""2.x stations that show costs get the running cost in every TransactionEvent answer
(``totalCost``), priced with the tariff the CDR will use; others get none."""

from __future__ import annotations

from decimal import Decimal

import pytest

from activities.billing.tariffs import parse_tariff
from activities.persistence.database import Database
from activities.persistence.models import StationVariable
from activities.persistence.repositories import tariffs
from gateway.running_cost import COST_ENABLED
from gateway.server import Gateway
from tests.conftest import unique
from tests.gateway.conftest import RawCharger, connect
from tests.gateway.test_ocpp2 import BOOT, register, tx_event
from tests.helpers import seed_station

pytestmark = pytest.mark.parametrize("version", ["2.0.1", "2.1"])


async def _station(db: Database, shows_costs: bool) -> tuple[str, str]:
    ident, site, tag = unique("CS"), unique("site"), unique("T")[:20]
    await seed_station(db, ident, site_id=site, tokens={tag: "accepted"})
    async with db.sessions.begin() as session:
        if shows_costs:
            session.add(
                StationVariable(station_id=ident, key=COST_ENABLED, value="true", source="report")
            )
        version = await tariffs.add_version(
            session,
            parse_tariff(
                {
                    "id": unique("T"),
                    "currency": "EUR",
                    "elements": [
                        {
                            "price_components": [
                                {"type": "ENERGY", "price": "0.40", "vat": 25, "step_size": 1},
                                {"type": "FLAT", "price": "0.50", "vat": 25, "step_size": 1},
                            ]
                        }
                    ],
                }
            ),
        )
        await tariffs.assign(session, version.tariff_id, site)
    return ident, tag


async def test_the_running_cost_follows_the_meter(
    gateway: Gateway, sqlite_db: Database, version: str
) -> None:
    ident, tag = await _station(sqlite_db, shows_costs=True)
    tx = unique("tx")
    async with await connect(gateway, ident, f"ocpp{version}") as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        started = await charger.ok(
            "TransactionEvent",
            tx_event("Started", tx, 0, token=tag, meter=register(1000, "Transaction.Begin")),
        )
        # The session fee alone: 0.50 + 25 % VAT.
        assert started["totalCost"] == 0.63 and started["idTokenInfo"]["status"] == "Accepted"
        update = await charger.ok(
            "TransactionEvent",
            tx_event(
                "Updated",
                tx,
                1,
                trigger="MeterValuePeriodic",
                meter=register(4000, minutes=20),
                minutes=20,
            ),
        )
        assert Decimal(str(update["totalCost"])) == Decimal("2.13")  # (1.20 + 0.50) x 1.25
        ended = await charger.ok(
            "TransactionEvent",
            tx_event(
                "Ended",
                tx,
                2,
                trigger="EVCommunicationLost",
                stoppedReason="EVDisconnected",
                meter=register(9500, "Transaction.End", minutes=60),
                minutes=60,
            ),
        )
        assert Decimal(str(ended["totalCost"])) == Decimal("4.88")  # (3.40 + 0.50) x 1.25


async def test_a_station_that_shows_no_costs_gets_none(
    gateway: Gateway, sqlite_db: Database, version: str
) -> None:
    ident, tag = await _station(sqlite_db, shows_costs=False)
    tx = unique("tx")
    async with await connect(gateway, ident, f"ocpp{version}") as ws:
        charger = RawCharger(ws)
        await charger.ok("BootNotification", BOOT)
        started = await charger.ok(
            "TransactionEvent",
            tx_event("Started", tx, 0, token=tag, meter=register(1000, "Transaction.Begin")),
        )
        assert "totalCost" not in started
