"""Configuration values as stations report them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.database import dialect_insert
from activities.persistence.models import StationVariable


def device_model_key(item: dict[str, Any], attribute_type: str = "Actual") -> str:
    """The key of a 2.x component/variable pair (as NotifyReport and GetVariables name it)."""
    component, variable = item["component"], item["variable"]
    key = component["name"]
    if component.get("instance"):
        key += f"[{component['instance']}]"
    evse = component.get("evse")
    if evse:
        key += f"@{evse['id']}" + (f".{evse['connectorId']}" if "connectorId" in evse else "")
    key += f".{variable['name']}"
    if variable.get("instance"):
        key += f"[{variable['instance']}]"
    if attribute_type != "Actual":
        key += f":{attribute_type}"
    return key


def from_report(report_data: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows (key, value, readonly) of a NotifyReport's ``reportData``."""
    rows = []
    for item in report_data:
        for attribute in item.get("variableAttribute", []):
            kind = attribute.get("type", "Actual")
            rows.append(
                {
                    "key": device_model_key(item, kind),
                    "value": attribute.get("value"),
                    "readonly": attribute.get("mutability") == "ReadOnly"
                    if "mutability" in attribute
                    else None,
                }
            )
    return rows


async def upsert_many(
    session: AsyncSession,
    station_id: str,
    rows: Sequence[dict[str, Any]],
    *,
    source: str,
    at: datetime,
) -> None:
    """Store reported values, replacing older reports of the same keys."""
    if not rows:
        return
    values = [{**r, "station_id": station_id, "source": source, "updated_at": at} for r in rows]
    statement = dialect_insert(session)(StationVariable).values(values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["station_id", "key"],
            set_={
                "value": statement.excluded.value,
                "readonly": statement.excluded.readonly,
                "source": statement.excluded.source,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )


async def of_station(
    session: AsyncSession, station_id: str, prefix: str | None = None
) -> Sequence[StationVariable]:
    """A station's reported values by key (optionally those starting with ``prefix``)."""
    query = select(StationVariable).where(StationVariable.station_id == station_id)
    if prefix:
        query = query.where(StationVariable.key.startswith(prefix, autoescape=True))
    return (await session.scalars(query.order_by(StationVariable.key))).all()
