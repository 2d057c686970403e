"""What a site drew, from the stored meter samples of its transactions.

Per transaction the energy register is read at an interval's edges: between two
samples by linear interpolation, before the first sample from the transaction's
start (its meter start), after a stop from its meter stop. Past the last sample
of a transaction still running, the register is held flat (the reading can only
err low) and the data quality says ESTIMATED; a transaction with no reading at
all makes it MISSING. The site's demand in an interval is the energy its
transactions received in it over its length; where an interval holds two
readings or more, the energy next to its edges is carried from them
(:func:`energy_in`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import Transaction
from activities.persistence.repositories import meter_samples

OK, ESTIMATED, MISSING = "OK", "ESTIMATED", "MISSING"


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
    points = _points(tx)
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


def _points(tx: Reading) -> list[tuple[datetime, float]]:
    points = list(tx.samples)
    if tx.meter_start_wh is not None:
        points.insert(0, (tx.started_at, tx.meter_start_wh))
    if tx.stopped_at is not None and tx.meter_stop_wh is not None:
        points.append((tx.stopped_at, tx.meter_stop_wh))
    return sorted(points)


def _slope(a: tuple[datetime, float], b: tuple[datetime, float]) -> float:
    seconds = (b[0] - a[0]).total_seconds()
    return (b[1] - a[1]) / seconds if seconds > 0 else 0.0


def energy_in(tx: Reading, start: datetime, end: datetime) -> tuple[float | None, str]:
    """The energy (Wh) the transaction received in [start, end) and its quality.

    From its readings inside the interval, carried to the interval's edges at the
    mean rate of the readings inside it: a demand-response limit changes at interval
    edges, so the draw next to an edge is the interval's own (interpolating across
    the edge would lend the interval some of the next one's higher draw). With
    fewer than two readings inside, the register is interpolated at the edges.
    """
    points = _points(tx)
    inside = [p for p in points if start <= p[0] <= end]
    if len(inside) < 2:
        low, q0 = register_at(tx, start)
        high, q1 = register_at(tx, end)
        if low is None or high is None:
            return None, MISSING
        return max(0.0, high - low), ESTIMATED if ESTIMATED in (q0, q1) else OK
    wh = inside[-1][1] - inside[0][1]
    # Carried to the edges at the mean rate of all the readings inside, not of the two
    # nearest: registers come in whole Wh, and two readings seconds apart give a rate
    # off by up to 1 Wh over their gap (a 1 kW swing between readings 2 s apart).
    rate = _slope(inside[0], inside[-1])
    if tx.started_at < start:  # it drew from the interval's start
        wh += rate * (inside[0][0] - start).total_seconds()
    running_past = tx.stopped_at is None or tx.stopped_at > end
    if running_past:
        wh += rate * (end - inside[-1][0]).total_seconds()
    _, quality = register_at(tx, end)
    return max(0.0, wh), quality


def interval_demand(sessions: list[Reading], start: datetime, end: datetime) -> tuple[float, str]:
    """The site's average demand (kW) over [start, end) and the data quality."""
    wh, quality = 0.0, OK
    for tx in sessions:
        if tx.started_at >= end or (tx.stopped_at is not None and tx.stopped_at <= start):
            continue
        energy, q = energy_in(tx, start, end)
        if energy is None:
            quality = MISSING
            continue
        wh += energy
        if q == ESTIMATED and quality == OK:
            quality = ESTIMATED
    return wh / 1000 / ((end - start) / timedelta(hours=1)), quality


async def readings(
    session: AsyncSession, site_id: str, first: datetime, last: datetime
) -> list[Reading]:
    """The site's transactions that overlap [first, last), with their register samples
    from an hour either side (for the interpolation at the edges)."""
    rows = (
        await session.scalars(
            select(Transaction).where(
                Transaction.site_id == site_id,
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
    return [
        Reading(
            t.started_at,
            t.meter_start_wh,
            t.stopped_at,
            t.meter_stop_wh,
            samples.get(t.id, []),
        )
        for t in rows
    ]
