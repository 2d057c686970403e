"""What a site drew during a demand-response event's intervals against what the event
asked and what the site would have drawn without it: the report the utility reads.

Per site and interval: the measured demand (kW, from the stored meter samples,
see :mod:`activities.site_demand`) and energy (USAGE, kWh), the limit in force,
the two baselines of :mod:`activities.baselines` (BASELINE: the site's own plan
without the event; BASELINE_X_OF_Y: like days from history), the delta (the
baseline's energy less the energy used: what the event saved), and the data
quality of the reading. Also as CSV (:func:`report_csv`).
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity

from activities import baselines
from activities.demand_response import asks_of
from activities.persistence.database import Database
from activities.persistence.models import (
    DrEvent,
    DrOptOut,
    DrReport,
    SiteCharging,
    UtilityClient,
)
from activities.site_demand import (
    ESTIMATED,
    MISSING,
    OK,
    Reading,
    interval_demand,
    readings,
    register_at,
)

__all__ = [
    "ESTIMATED",
    "MISSING",
    "OK",
    "ComplianceActivities",
    "Reading",
    "compliant",
    "interval_demand",
    "register_at",
    "report_csv",
]

TOLERANCE_KW = 0.05
"""Demand within this of the limit counts as within it (meters report whole Wh)."""

# Units: USAGE and DELTA_USAGE in kWh, DEMAND, the limit and both baselines in kW.
# Not served as ``payloadDescriptors``: the definition wants REPORT_PAYLOAD_DESCRIPTORs
# there, and openadr3-client 2.4.2 reads a report's descriptors as event ones and
# refuses those; both accept a report without them.


@dataclass(frozen=True)
class LiveRequest:
    """The compliance of these sites with the event so far, as of ``now``."""

    event_id: str
    site_ids: list[str]
    now: datetime


class ComplianceActivities:
    """The report of an event, written when it ends."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn(name="report_event")
    async def report_event(self, event_id: str) -> str | None:
        """Write the event's compliance report (per site and interval: usage, demand,
        limit, baselines, delta, data quality) and return its id; None if the event
        is gone."""
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
                resource = await self._site(session, site, event.id, event.body)
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

    @activity.defn(name="compliance_so_far")
    async def compliance_so_far(self, request: LiveRequest) -> str:
        """One line for the Temporal UI: per site (five at most), the demand in the
        current interval so far against its limit; and how many of the intervals
        ended so far kept within theirs."""
        async with self._db.sessions() as session:
            event = await session.get(DrEvent, request.event_id)
            if event is None:
                return "event gone"
            asks = [a for a in asks_of(event.body) if a.kind == "IMPORT_CAPACITY_LIMIT"]
            now = request.now
            parts: list[str] = []
            ended = within = 0
            for site in request.site_ids:
                first = min((a.start for a in asks), default=now)
                measured = await readings(session, site, first, now)
                for ask in asks:
                    if ask.end <= now:
                        kw, _ = interval_demand(measured, ask.start, ask.end)
                        ended += 1
                        within += kw <= ask.value + TOLERANCE_KW
                    elif ask.start < now and len(parts) < 5:
                        kw, _ = interval_demand(measured, ask.start, now)
                        mark = "within" if kw <= ask.value + TOLERANCE_KW else "OVER"
                        parts.append(f"{site} {kw:.1f}/{ask.value:g} kW {mark}")
        summary = f"{within}/{ended} intervals within" if ended else "first interval"
        return "live: " + " · ".join([*parts, summary])

    @activity.defn(name="readings_complete")
    async def readings_complete(self, event_id: str) -> bool:
        """Whether every session at the event's sites that overlaps its intervals has a
        meter reading at or past the event's end (or has stopped with its final one);
        True for an event that is gone."""
        async with self._db.sessions() as session:
            event = await session.get(DrEvent, event_id)
            if event is None:
                return True
            spans = sorted({(a.start, a.end) for a in asks_of(event.body)})
            if not spans:
                return True
            client = await session.get(UtilityClient, event.client_id)
            sites = event.body.get("targets") or (client.sites if client else [])
            first, last = spans[0][0], spans[-1][1]
            for site in sites:
                for reading in await readings(session, site, first, last):
                    if register_at(reading, last)[1] != OK:
                        return False
        return True

    async def _site(
        self, session: AsyncSession, site: str, event_id: str, event: dict[str, Any]
    ) -> dict[str, Any]:
        asks = [a for a in asks_of(event) if a.kind == "IMPORT_CAPACITY_LIMIT"]
        spans = sorted({(a.start, a.end) for a in asks_of(event)})
        if not spans:
            return {"resourceName": site, "intervals": []}
        first, last = spans[0][0], spans[-1][1]
        measured = await readings(session, site, first, last)
        planned = await baselines.plan_baseline(session, event_id, site)
        zone = baselines.zone_of(await session.get(SiteCharging, site))
        history, _ = await baselines.x_of_y(session, site, spans, zone)
        intervals = []
        for n, (start, end) in enumerate(spans):
            hours = (end - start) / timedelta(hours=1)
            kw, quality = interval_demand(measured, start, end)
            limits = [a.value for a in asks if a.start == start and a.end == end]
            plan_kw = planned.average(start, end) if planned is not None else None
            payloads: list[dict[str, Any]] = [
                {"type": "USAGE", "values": [round(kw * hours, 3)]},
                {"type": "DEMAND", "values": [round(kw, 3)]},
            ]
            if limits:
                payloads.append({"type": "IMPORT_CAPACITY_LIMIT", "values": [min(limits)]})
            if plan_kw is not None:
                payloads.append({"type": "BASELINE", "values": [round(plan_kw, 3)]})
            like_days = history[n]
            if like_days is not None:
                payloads.append({"type": "BASELINE_X_OF_Y", "values": [round(like_days, 3)]})
            baseline = plan_kw if plan_kw is not None else like_days
            if baseline is not None:
                payloads.append(
                    {"type": "DELTA_USAGE", "values": [round((baseline - kw) * hours, 3)]}
                )
            payloads.append({"type": "DATA_QUALITY", "values": [quality]})
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


def values_of(interval: dict[str, Any]) -> dict[str, Any]:
    """An interval's payloads by type (each one's first value)."""
    return {p["type"]: p["values"][0] for p in interval["payloads"]}


def compliant(resource: dict[str, Any]) -> list[bool | None]:
    """Per interval: within its limit (None where there is none, no good reading, or
    the site was opted out)."""
    verdicts: list[bool | None] = []
    for interval in resource["intervals"]:
        values = values_of(interval)
        if (
            "IMPORT_CAPACITY_LIMIT" not in values
            or values.get("DATA_QUALITY") == MISSING
            or "OPT_OUT" in values
        ):
            verdicts.append(None)
        else:
            verdicts.append(values["DEMAND"] <= values["IMPORT_CAPACITY_LIMIT"] + TOLERANCE_KW)
    return verdicts


CSV_COLUMNS = [
    "site",
    "interval",
    "start",
    "duration",
    "usage_kwh",
    "demand_kw",
    "limit_kw",
    "baseline_kw",
    "baseline_x_of_y_kw",
    "delta_usage_kwh",
    "data_quality",
    "compliant",
    "opt_out",
]


def report_csv(body: dict[str, Any]) -> str:
    """A report as CSV: one row per site and interval (empty where a value is not
    known)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for resource in body.get("resources") or []:
        verdicts = compliant(resource)
        for interval, verdict in zip(resource["intervals"], verdicts, strict=True):
            values = values_of(interval)
            writer.writerow(
                [
                    resource["resourceName"],
                    interval["id"],
                    interval["intervalPeriod"]["start"],
                    interval["intervalPeriod"]["duration"],
                    values.get("USAGE", ""),
                    values.get("DEMAND", ""),
                    values.get("IMPORT_CAPACITY_LIMIT", ""),
                    values.get("BASELINE", ""),
                    values.get("BASELINE_X_OF_Y", ""),
                    values.get("DELTA_USAGE", ""),
                    values.get("DATA_QUALITY", ""),
                    "" if verdict is None else str(verdict).lower(),
                    values.get("OPT_OUT", ""),
                ]
            )
    return out.getvalue()
