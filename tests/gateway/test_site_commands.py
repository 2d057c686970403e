"""A gateway node's share of a site plan: read from the database, and what it could
not send reported per station, with nothing of a replaced plan sent."""

from __future__ import annotations

from decimal import Decimal

from activities.persistence.database import Database
from activities.persistence.models import Site
from activities.persistence.repositories import site_plans
from activities.persistence.types import to_json
from gateway.command_worker import StationCommands
from tests.conftest import unique
from workflows.commands import ClearChargingProfile, CommandFailure, CommandRequest
from workflows.smart_charging import SiteDelivery


async def test_stations_not_on_this_node_are_reported_and_old_plans_send_nothing(
    db: Database,
) -> None:
    site = unique("site")
    async with db.sessions.begin() as session:
        session.add(Site(id=site, name="x", price_per_kwh=Decimal("0.2"), currency="EUR"))
        await session.flush()
        clear = to_json(CommandRequest.of("CP-1", ClearChargingProfile(evse_id=1), "r1", 30.0))
        await site_plans.store_commands(session, site, 1, {"CP-1": [clear, clear]})
    node = StationCommands(unique("node"), {}, db)
    report = await node.site_commands(SiteDelivery(site, 1, ["CP-1", "CP-2"]))
    # CP-1 is not connected here: its first command fails and the second is not tried.
    assert report.sent == 0
    assert list(report.failed) == ["CP-1"] and CommandFailure.MOVED in report.failed["CP-1"]
    async with db.sessions.begin() as session:
        await site_plans.store_commands(session, site, 2, {})
    # Plan 1 was replaced: a late delivery of it finds nothing to send.
    late = await node.site_commands(SiteDelivery(site, 1, ["CP-1"]))
    assert (late.sent, late.failed) == (0, {})
