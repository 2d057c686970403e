"""What a site would have drawn without a demand-response event: the two baselines
its report sets against what it drew.

**PLAN**, the counterfactual: the site's own plan with every other event but this
one, computed when the event first reaches the site (before its plan keeps to
it), for the vehicles present then: per slot the sum of their planned power,
over the site's planning horizon. Stored (``dr_baselines``), since the vehicles
are gone by the time of the report. A site without smart charging has no plan:
its demand over the quarter hour before, held flat from the start of that quarter
hour, flagged ``ESTIMATED``.

**X of Y**, from history: the site's demand over the same local clock window on
the Y most recent like days (a weekday for a weekday, a weekend day for one, in
the site's time zone; no event at the site that day; none before the site's
first session), and of those the X with the highest demand over the window,
averaged interval by interval. 10 of 10 uses all ten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.converter import value_to_type

from activities import site_demand
from activities.demand_response import asks_for_site
from activities.persistence.database import Database
from activities.persistence.models import DrBaseline, SiteCharging, Transaction
from activities.smart_charging import SmartChargingActivities, present_at_site
from workflows.smart_charging import SiteChargingConfig

X_DAYS, Y_DAYS = 10, 10
LOOK_BACK_DAYS = 45
"""How far back like days are looked for."""
BEFORE = timedelta(minutes=15)
"""The window a site without a plan is measured over, before the event reaches it."""
PLAN, ESTIMATED = "PLAN", "ESTIMATED"


@dataclass(frozen=True)
class BaselineRequest:
    """Record the PLAN baseline of these sites for the event, as of ``now``."""

    event_id: str
    site_ids: list[str]
    now: datetime


@dataclass(frozen=True)
class Series:
    """A baseline as stored: kW per slot from ``start``."""

    start: datetime
    slot_minutes: int
    kw: list[float]
    quality: str

    def average(self, begin: datetime, end: datetime) -> float | None:
        """Its mean over [begin, end), or None where it does not cover all of it."""
        slot = timedelta(minutes=self.slot_minutes)
        stop = self.start + slot * len(self.kw)
        if begin < self.start or end > stop or end <= begin:
            return None
        total = 0.0
        for t, kw in enumerate(self.kw):
            low, high = max(begin, self.start + slot * t), min(end, self.start + slot * (t + 1))
            if high > low:
                total += kw * ((high - low) / slot)
        return total / ((end - begin) / slot)


def zone_of(row: SiteCharging | None) -> ZoneInfo:
    """The site's time zone (UTC without a smart-charging configuration)."""
    if row is None:
        return ZoneInfo("UTC")
    return ZoneInfo(value_to_type(SiteChargingConfig, row.config).time_zone)


def days_back(moment: datetime, days: int, zone: ZoneInfo) -> datetime:
    """The same local clock time ``days`` earlier (DST changes keep the wall clock)."""
    local = moment.astimezone(zone).replace(tzinfo=None) - timedelta(days=days)
    return local.replace(tzinfo=zone).astimezone(UTC)


async def x_of_y(
    session: AsyncSession,
    site_id: str,
    spans: Sequence[tuple[datetime, datetime]],
    zone: ZoneInfo,
    *,
    x: int = X_DAYS,
    y: int = Y_DAYS,
) -> tuple[list[float | None], list[date]]:
    """Per span, the X-of-Y baseline (kW); and the like days it was taken from."""
    if not spans:
        return [], []
    first, last = spans[0][0], spans[-1][1]
    earliest = await session.scalar(
        select(func.min(Transaction.started_at)).where(Transaction.site_id == site_id)
    )
    if earliest is None:
        return [None] * len(spans), []
    oldest = days_back(first, LOOK_BACK_DAYS, zone)
    busy = {
        d
        for ask in await asks_for_site(session, site_id, oldest, first)
        for d in _local_dates(ask.start, ask.end, zone)
    }
    weekend = first.astimezone(zone).weekday() >= 5
    chosen: list[int] = []
    for back in range(1, LOOK_BACK_DAYS + 1):
        begin = days_back(first, back, zone)
        if begin < earliest:
            break  # before the site's first session: no history, not a zero
        day = begin.astimezone(zone).date()
        if (day.weekday() >= 5) != weekend or day in busy:
            continue
        chosen.append(back)
        if len(chosen) == y:
            break
    per_day: list[tuple[date, list[float]]] = []
    for back in chosen:
        shifted = [(days_back(s, back, zone), days_back(e, back, zone)) for s, e in spans]
        readings = await site_demand.readings(
            session, site_id, shifted[0][0], days_back(last, back, zone)
        )
        per_day.append(
            (
                shifted[0][0].astimezone(zone).date(),
                [site_demand.interval_demand(readings, s, e)[0] for s, e in shifted],
            )
        )
    if not per_day:
        return [None] * len(spans), []
    # The X days of the highest demand over the whole window.
    top = sorted(per_day, key=lambda d: sum(d[1]), reverse=True)[:x]
    values: list[float | None] = [
        sum(day[1][i] for day in top) / len(top) for i in range(len(spans))
    ]
    return values, sorted(d for d, _ in top)


def _local_dates(start: datetime, end: datetime, zone: ZoneInfo) -> set[date]:
    first, last = start.astimezone(zone).date(), (end - timedelta(seconds=1)).astimezone(zone)
    days = {first}
    while first < last.date():
        first += timedelta(days=1)
        days.add(first)
    return days


class BaselineActivities:
    """The PLAN baseline, recorded when an event first reaches its sites."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._planner = SmartChargingActivities(db)

    @activity.defn(name="record_baselines")
    async def record_baselines(self, request: BaselineRequest) -> list[str]:
        """For each site without one yet, the event's PLAN baseline; the sites recorded
        now (a retry finds the rest done)."""
        recorded: list[str] = []
        for site_id in request.site_ids:
            async with self._db.sessions() as session:
                if await session.get(DrBaseline, (request.event_id, site_id)) is not None:
                    continue
                series = await self._series(session, site_id, request)
            async with self._db.sessions.begin() as session:
                if await session.get(DrBaseline, (request.event_id, site_id)) is not None:
                    continue
                session.add(
                    DrBaseline(
                        event_id=request.event_id,
                        site_id=site_id,
                        start=series.start,
                        slot_minutes=series.slot_minutes,
                        kw=[round(v, 3) for v in series.kw],
                        quality=series.quality,
                    )
                )
            recorded.append(site_id)
        return recorded

    async def _series(
        self, session: AsyncSession, site_id: str, request: BaselineRequest
    ) -> Series:
        row = await session.get(SiteCharging, site_id)
        if row is not None and row.enabled:
            config = value_to_type(SiteChargingConfig, row.config)
            present = {v.key: v for v in await present_at_site(session, site_id, config)}
            plan, _ = await self._planner.solve(
                session, row, config, list(present.values()), request.now, request.event_id
            )
            slots = len(plan.site_limit_kw)
            totals = [sum(kw[t] for kw in plan.power_kw.values()) for t in range(slots)]
            return Series(plan.planned_at, plan.slot_minutes, totals, "OK")
        # No plan: what it drew over the quarter hour just before, held from then on
        # for a day (so it covers an event that began in that quarter hour too).
        since = request.now - BEFORE
        readings = await site_demand.readings(session, site_id, since, request.now)
        kw, _ = site_demand.interval_demand(readings, since, request.now)
        return Series(since, 15, [kw] * 97, ESTIMATED)


async def plan_baseline(session: AsyncSession, event_id: str, site_id: str) -> Series | None:
    """The event's stored PLAN baseline for the site, if it was recorded."""
    row = await session.get(DrBaseline, (event_id, site_id))
    if row is None:
        return None
    return Series(row.start, row.slot_minutes, list(row.kw), row.quality)
