"""Where a station's socket lives: the connection registry, read for command routing."""

from __future__ import annotations

from temporalio import activity

from activities.persistence.database import Database
from activities.persistence.repositories import registry


class RoutingActivities:
    """Registry lookups for the workflows that send charger commands."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name="locate_stations")
    async def locate_stations(self, station_ids: list[str]) -> dict[str, str]:
        """The gateway node holding each connected station (offline ones are absent)."""
        async with self.db.sessions() as session:
            found = await registry.connections(session, station_ids)
        return {station_id: row.node_id for station_id, row in found.items()}
