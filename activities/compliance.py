"""What a site drew during a demand-response event's intervals, from the stored meter
samples, against what the event asked; the report the utility reads.

Per transaction the energy register is read at each interval's edges: between
two samples by linear interpolation, before the first sample from the
transaction's start (its meter start), after a stop from its meter stop. Past
the last sample of a transaction still running, the register is held flat
(the reading can only err low) and the interval's data quality says ESTIMATED;
a transaction with no reading at all makes it MISSING. The site's demand in an
interval is the energy its transactions received in it over its length.
"""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities.demand_response import asks_of
from activities.persistence.database import Database
from activities.persistence.models import (
    DrEvent,
    DrOptOut,
    DrReport,
    Transaction,
    UtilityClient,
)
from activities.persistence.repositories import meter_samples

OK, ESTIMATED, MISSING = "OK", "ESTIMATED", "MISSING"
TOLERANCE_KW = 0.05
"""Demand within this of the limit counts as within it (meters report whole Wh)."""


@dataclass(frozen=True)
class Reading:
    """A transaction as the reading needs it."""

    started_at: datetime
    meter_start_wh: float | None
    stopped_at: datetime | None
    meter_stop_wh: float | None
    samples: list[tuple[datetime, float]]


def register_at(tx: Reading, at: datetime) -> tuple[float | None, str]:
    """The transaction's register (Wh) at ``at`` and how good that reading is."""
    points = list(tx.samples)
    if tx.meter_start_wh is not None:
        points.insert(0, (tx.started_at, tx.meter_start_wh))
    if tx.stopped_at is not None and tx.meter_stop_wh is not None:
        points.append((tx.stopped_at, tx.meter_stop_wh))
    points.sort()
    if not points:
        return None, MISSING
    if at <= points[0][0]:
        return points[0][1], OK  # before it began (or its first reading): nothing yet
    times = [t for t, _ in points]
    i = bisect.bisect_left(times, at)
    if i < len(points):
        (t0, v0), (t1, v1) = points[i - 1], points[i]
        share = (at - t0) / (t1 - t0) if t1 > t0 else 1.0
        return v0 + (v1 - v0) * share, OK
    ended = tx.stopped_at is not None and at >= tx.stopped_at
    return points[-1][1], OK if ended else ESTIMATED


def interval_demand(sessions: list[Reading], start: datetime, end: datetime) -> tuple[float, str]:
    """The site's average demand (kW) over [start, end) and the data quality."""
    wh, quality = 0.0, OK
    for tx in sessions:
        if tx.started_at >= end or (tx.stopped_at is not None and tx.stopped_at <= start):
            continue
        low, q0 = register_at(tx, start)
        high, q1 = register_at(tx, end)
        if low is None or high is None:
            quality = MISSING
            continue
        wh += max(0.0, high - low)
        if ESTIMATED in (q0, q1) and quality == OK:
            quality = ESTIMATED
    return wh / 1000 / ((end - start) / timedelta(hours=1)), quality


class ComplianceActivities:
    """The report of an event, written when it ends."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn(name="report_event")
    async def report_event(self, event_id: str) -> str | None:
        """Write the event's compliance report (per site and interval: demand, limit,
        data quality) and return its id; None if the event is gone."""
        async with self._db.sessions() as session:
            event = await session.get(DrEvent, event_id)
            if event is None:
                return None
            client = await session.get(UtilityClient, event.client_id)
            sites = event.body.get("targets") or (client.sites if client else [])
            outs = {
                o.site_id: o.reason
                for o in (
                    await session.scalars(select(DrOptOut).where(DrOptOut.event_id == event.id))
                ).all()
            }
            resources = []
            for site in sites:
                resource = await self._site(session, site, event.body)
                if site in outs:
                    # Opted out by its operator: measured all the same, and said so.
                    for interval in resource["intervals"]:
                        interval["payloads"].append({"type": "OPT_OUT", "values": [outs[site]]})
                resources.append(resource)
        now = datetime.now(UTC)
        ident = str(uuid.uuid4())
        body = {
            "id": ident,
            "createdDateTime": now.isoformat(),
            "modificationDateTime": now.isoformat(),
            "objectType": "REPORT",
            "programID": event.program_id,
            "eventID": event.id,
            "clientName": "csms",
            "clientID": "csms",
            "reportName": f"compliance of {event.body.get('eventName') or event.id}",
            "payloadDescriptors": [
                {"payloadType": "DEMAND", "units": "KW"},
                {"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"},
                {"payloadType": "DATA_QUALITY"},
            ],
            "resources": resources,
        }
        async with self._db.sessions.begin() as session:
            session.add(
                DrReport(
                    id=ident,
                    client_id=event.client_id,
                    event_id=event.id,
                    program_id=event.program_id,
                    body=body,
                )
            )
        return ident

    async def _site(
        self, session: AsyncSession, site: str, event: dict[str, Any]
    ) -> dict[str, Any]:
        asks = [a for a in asks_of(event) if a.kind == "IMPORT_CAPACITY_LIMIT"]
        spans = sorted({(a.start, a.end) for a in asks_of(event)})
        if not spans:
            return {"resourceName": site, "intervals": []}
        first, last = spans[0][0], spans[-1][1]
        rows = (
            await session.scalars(
                select(Transaction).where(
                    Transaction.site_id == site,
                    Transaction.started_at < last,
                    (Transaction.stopped_at.is_(None)) | (Transaction.stopped_at > first),
                )
            )
        ).all()
        samples = await meter_samples.register_samples(
            session,
            [(t.station_id, t.id) for t in rows],
            first - timedelta(hours=1),
            last + timedelta(hours=1),
        )
        sessions = [
            Reading(
                t.started_at,
                t.meter_start_wh,
                t.stopped_at,
                t.meter_stop_wh,
                samples.get(t.id, []),
            )
            for t in rows
        ]
        intervals = []
        for n, (start, end) in enumerate(spans):
            kw, quality = interval_demand(sessions, start, end)
            limits = [a.value for a in asks if a.start == start and a.end == end]
            payloads: list[dict[str, Any]] = [
                {"type": "DEMAND", "values": [round(kw, 3)]},
                {"type": "DATA_QUALITY", "values": [quality]},
            ]
            if limits:
                payloads.insert(1, {"type": "IMPORT_CAPACITY_LIMIT", "values": [min(limits)]})
            intervals.append(
                {
                    "id": n,
                    "intervalPeriod": {
                        "start": start.isoformat(),
                        "duration": _iso(end - start),
                    },
                    "payloads": payloads,
                }
            )
        return {"resourceName": site, "intervals": intervals}


def _iso(duration: timedelta) -> str:
    return f"PT{int(duration.total_seconds())}S"


def compliant(resource: dict[str, Any]) -> list[bool | None]:
    """Per interval: within its limit (None where there is none, no good reading, or
    the site was opted out)."""
    verdicts: list[bool | None] = []
    for interval in resource["intervals"]:
        values = {p["type"]: p["values"][0] for p in interval["payloads"]}
        if (
            "IMPORT_CAPACITY_LIMIT" not in values
            or values.get("DATA_QUALITY") == MISSING
            or "OPT_OUT" in values
        ):
            verdicts.append(None)
        else:
            verdicts.append(values["DEMAND"] <= values["IMPORT_CAPACITY_LIMIT"] + TOLERANCE_KW)
    return verdicts
