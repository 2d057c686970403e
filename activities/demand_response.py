"""What utilities' OpenADR 3 events ask of a site, slot by slot.

From the events that target the site (by its id, or every site of the utility
when an event names no targets), per planning slot: the cap on the site's
import (``IMPORT_CAPACITY_LIMIT`` in kW, or a ``SIMPLE`` level as a share of the
connection withheld) and the price that replaces the site's tariff (``PRICE``).
A site its operator opted out of an event is not asked anything by it. An
interval that covers any part of a slot applies to the whole slot (a limit
must hold from the interval's first second). Where events overlap, the one of
the highest priority wins (OpenADR: the lowest number; none is the lowest), and
among equals the tighter limit and the higher price.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.persistence.database import Database
from activities.persistence.models import (
    DrEvent,
    DrOptOut,
    DrProgram,
    SiteCharging,
    UtilityClient,
)
from activities.persistence.repositories import stations as station_rows
from optimizer.charging_profile import DEMAND_RESPONSE_STACK_LEVEL, ChargingProfile, Period
from workflows.commands import ClearChargingProfile, CommandRequest, SetChargingProfile

SIMPLE_SHARE = {0: 0.0, 1: 0.25, 2: 0.5, 3: 0.75}
"""The share of the site's connection a SIMPLE level withholds (level 3: a quarter
of the connection is left), unless the program says otherwise (:data:`SIMPLE_LEVELS`)."""
SIMPLE_LEVELS = "SIMPLE_LEVELS"
"""A program attribute: the percent of the connection SIMPLE levels 0, 1, 2 and 3
withhold (``{"type": "SIMPLE_LEVELS", "values": [0, 20, 40, 80]}``)."""


def simple_shares(program: dict[str, Any] | None) -> dict[int, float]:
    """A program's SIMPLE mapping (its SIMPLE_LEVELS attribute, in percent), else
    :data:`SIMPLE_SHARE`. The VTN checked the attribute when the program was written."""
    for attribute in (program or {}).get("attributes") or []:
        if attribute.get("type") == SIMPLE_LEVELS:
            return {level: float(v) / 100 for level, v in enumerate(attribute["values"])}
    return SIMPLE_SHARE


LOWEST = 2**31
"""The priority of an event that names none."""


@dataclass(frozen=True)
class Ask:
    """One interval of one event, as it applies to one site."""

    event_id: str
    start: datetime
    end: datetime
    priority: int
    kind: str  # IMPORT_CAPACITY_LIMIT, SIMPLE or PRICE
    value: float
    # What each SIMPLE level withholds, by the event's program.
    shares: dict[int, float] = field(default_factory=lambda: SIMPLE_SHARE, compare=False)


@dataclass
class SlotAsks:
    """Per slot: the import cap (kW) and the price that replace the site's own."""

    import_limit_kw: list[float | None]
    price_per_kwh: list[float | None]
    events: list[str]

    @property
    def any(self) -> bool:
        """Whether any event asks anything of the planned horizon."""
        return any(v is not None for v in self.import_limit_kw + self.price_per_kwh)


def asks_of(body: dict[str, Any], shares: dict[int, float] = SIMPLE_SHARE) -> list[Ask]:
    """The intervals of a stored event (its ``body`` as served); ``shares``: its
    program's SIMPLE mapping."""
    found = []
    default = body.get("intervalPeriod")
    next_start = datetime.fromisoformat(default["start"]) if default else None
    priority = body.get("priority")
    for interval in body.get("intervals") or []:
        period = interval.get("intervalPeriod")
        if period is not None:
            start, duration = datetime.fromisoformat(period["start"]), period["duration"]
        elif default is not None and next_start is not None:
            start, duration = next_start, default["duration"]
        else:
            continue
        end = start + _duration(duration)
        next_start = end
        for payload in interval.get("payloads") or []:
            kind = payload.get("type")
            values = [v for v in payload.get("values") or [] if _number(v)]
            if kind in ("IMPORT_CAPACITY_LIMIT", "SIMPLE", "PRICE") and values:
                found.append(
                    Ask(
                        body["id"],
                        start,
                        end,
                        LOWEST if priority is None else int(priority),
                        kind,
                        float(values[0]),
                        shares,
                    )
                )
    return found


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_DURATION = TypeAdapter(timedelta)


def _duration(text: str) -> timedelta:
    # Stored as pydantic wrote it: ISO 8601 (PT1H, P1DT2H, PT0.5S).
    return _DURATION.validate_python(text)


def per_slot(
    asks: Sequence[Ask],
    start: datetime,
    slot: timedelta,
    slots: int,
    connection_kw: float,
) -> SlotAsks:
    """The asks resolved onto the planning slots from ``start``."""
    limits: list[float | None] = [None] * slots
    prices: list[float | None] = [None] * slots
    for t in range(slots):
        begin, end = start + t * slot, start + (t + 1) * slot
        covering = [a for a in asks if a.start < end and a.end > begin]
        caps = [a for a in covering if a.kind in ("IMPORT_CAPACITY_LIMIT", "SIMPLE")]
        if caps:
            top = min(a.priority for a in caps)
            limits[t] = min(_cap_kw(a, connection_kw) for a in caps if a.priority == top)
        priced = [a for a in covering if a.kind == "PRICE"]
        if priced:
            top = min(a.priority for a in priced)
            prices[t] = max(a.value for a in priced if a.priority == top)
    events = sorted({a.event_id for a in asks})
    return SlotAsks(limits, prices, events)


def _cap_kw(ask: Ask, connection_kw: float) -> float:
    if ask.kind == "SIMPLE":
        return connection_kw * (1 - ask.shares.get(int(ask.value), 0.0))
    return max(0.0, ask.value)


async def asks_for_site(
    session: AsyncSession, site_id: str, start: datetime, end: datetime
) -> list[Ask]:
    """The intervals of every event that targets the site and overlaps [start, end)."""
    rows = await session.execute(
        select(DrEvent, UtilityClient.sites, DrProgram.body)
        .join(UtilityClient, UtilityClient.client_id == DrEvent.client_id)
        .join(DrProgram, DrProgram.id == DrEvent.program_id)
        .where(DrEvent.starts_at < end, DrEvent.ends_at > start)
    )
    opted_out = set(
        (await session.scalars(select(DrOptOut.event_id).where(DrOptOut.site_id == site_id))).all()
    )
    found: list[Ask] = []
    for event, sites, program in rows:
        targets = event.body.get("targets")
        if site_id not in (targets if targets else sites) or event.id in opted_out:
            continue
        asks = asks_of(event.body, simple_shares(program))
        found.extend(a for a in asks if a.start < end and a.end > start)
    return found


DR_PROFILE_ID = 913_000
"""The id of the station-maximum profile demand response sets on a site without smart
charging (cleared by id, so an operator's own station maximum stays)."""
DR_STACK_LEVEL = DEMAND_RESPONSE_STACK_LEVEL
"""Above the planner's profiles: the utility's cap wins."""


@dataclass(frozen=True)
class PlainSiteRequest:
    """The commands that hold an event's current limit at the sites without smart
    charging among ``site_ids`` (or lift it where none applies now)."""

    event_id: str
    site_ids: list[str]
    now: datetime


class DemandResponseActivities:
    """Demand response where no site plan holds it: station maximum profiles."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn(name="plain_site_commands")
    async def plain_site_commands(self, request: PlainSiteRequest) -> list[CommandRequest]:
        """For each site without smart charging, its stations' share of the import cap
        in force now (the cap split evenly over the site's stations, so that a session
        starting mid-interval cannot break it), as a station maximum profile until the
        cap changes; where no cap applies now, that profile cleared."""
        commands: list[CommandRequest] = []
        async with self._db.sessions() as session:
            for site_id in request.site_ids:
                row = await session.get(SiteCharging, site_id)
                if row is not None and row.enabled:
                    continue  # its plans keep to the event
                stations = await station_rows.existing_ids(session, site_id=site_id)
                if not stations:
                    continue
                asks = await asks_for_site(
                    session, site_id, request.now, request.now + timedelta(seconds=1)
                )
                caps = [a for a in asks if a.kind in ("IMPORT_CAPACITY_LIMIT", "SIMPLE")]
                stamp = f"{request.event_id}-{request.now.timestamp():.0f}"
                if not caps:
                    commands.extend(
                        CommandRequest.of(
                            s,
                            ClearChargingProfile(profile_id=DR_PROFILE_ID),
                            f"dr-{stamp}-{s}-lift",
                        )
                        for s in stations
                    )
                    continue
                top = min(a.priority for a in caps)
                # SIMPLE levels need the connection, which only smart charging knows.
                limits = [a.value for a in caps if a.priority == top and a.kind != "SIMPLE"]
                if not limits:
                    continue
                until = min(a.end for a in caps if a.priority == top)
                share_w = max(0.0, min(limits)) * 1000 / len(stations)
                profile_s = max(1, int((until - request.now).total_seconds()))
                for station in stations:
                    profile = ChargingProfile(
                        profile_id=DR_PROFILE_ID,
                        purpose="StationMax",
                        stack_level=DR_STACK_LEVEL,
                        connector=0,
                        start=request.now,
                        duration_s=profile_s,
                        rate_unit="W",
                        periods=[Period(0, float(int(share_w)))],
                    )
                    commands.append(
                        CommandRequest.of(
                            station, SetChargingProfile(profile=profile), f"dr-{stamp}-{station}"
                        )
                    )
        return commands
