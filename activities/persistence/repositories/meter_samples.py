"""Meter samples: written in batches, read per transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.models import MeterSample, Transaction
from workflows.domain import ENERGY_REGISTER, MeterReading


async def add_samples(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert many samples in one statement.

    A row naming a transaction that does not exist, or that belongs to another
    station than the row's, is kept with no link rather than failing the whole
    batch: a station's samples never feed another station's session.
    """
    if not rows:
        return 0
    wanted = {r["transaction_pk"] for r in rows if r.get("transaction_pk") is not None}
    if wanted:
        found = await session.execute(
            select(Transaction.id, Transaction.station_id).where(Transaction.id.in_(wanted))
        )
        owners = {pk: owner for pk, owner in found.all()}
        rows = [
            r
            if r.get("transaction_pk") is None or owners.get(r["transaction_pk"]) == r["station_id"]
            else {**r, "transaction_pk": None}
            for r in rows
        ]
    await session.execute(insert(MeterSample), list(rows))
    return len(rows)


async def add_sample_batches(
    session: AsyncSession, batches: Sequence[Sequence[dict[str, Any]]]
) -> list[None]:
    """The batched operation of group commit: the rows of several messages, one INSERT
    (one result per message; if the batch fails, each message is retried alone)."""
    await add_samples(session, [row for rows in batches for row in rows])
    return [None] * len(batches)


async def samples_for(
    session: AsyncSession, station_id: str, transaction_pk: int, *, limit: int = 10_000
) -> Sequence[MeterSample]:
    """Samples of one transaction in time order (those its own station sent)."""
    query = (
        select(MeterSample)
        .where(MeterSample.transaction_pk == transaction_pk, MeterSample.station_id == station_id)
        .order_by(MeterSample.sampled_at, MeterSample.id)
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def energy_register_range(
    session: AsyncSession, station_id: str, transaction_pk: int
) -> tuple[float | None, float | None]:
    """Lowest and highest whole-meter energy register reading (Wh) of a transaction,
    among the samples its own station sent."""
    ranges = await energy_register_ranges(session, [(station_id, transaction_pk)])
    return ranges.get(transaction_pk, (None, None))


async def energy_register_ranges(
    session: AsyncSession, transactions: Sequence[tuple[str, int]]
) -> dict[int, tuple[float | None, float | None]]:
    """:func:`energy_register_range` of several (station, transaction key) pairs in one
    query, by transaction key (one with no samples is absent)."""
    if not transactions:
        return {}
    station_of = dict((pk, station) for station, pk in transactions)
    query = (
        select(
            MeterSample.transaction_pk,
            MeterSample.station_id,
            func.min(MeterSample.value),
            func.max(MeterSample.value),
        )
        .where(
            MeterSample.transaction_pk.in_(set(station_of)),
            MeterSample.measurand == ENERGY_REGISTER,
            MeterSample.phase.is_(None),
        )
        .group_by(MeterSample.transaction_pk, MeterSample.station_id)
    )
    ranges: dict[int, tuple[float | None, float | None]] = {}
    for pk, station, low, high in await session.execute(query):
        if pk is not None and station_of.get(pk) == station:  # only its own station's
            ranges[pk] = (low, high)
    return ranges


async def last_power(
    session: AsyncSession, station_id: str, transaction_pk: int
) -> tuple[float, datetime] | None:
    """The latest whole-EVSE active power sample (W) of a transaction and when it was taken."""
    query = (
        select(MeterSample.value, MeterSample.sampled_at)
        .where(
            MeterSample.transaction_pk == transaction_pk,
            MeterSample.station_id == station_id,
            MeterSample.measurand == "Power.Active.Import",
            MeterSample.phase.is_(None),
        )
        .order_by(MeterSample.sampled_at.desc(), MeterSample.id.desc())
        .limit(1)
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row is not None else None


def rows_of(
    readings: Iterable[MeterReading],
    *,
    station_id: str,
    evse_id: int,
    connector_id: int,
    transaction_pk: int | None,
) -> list[dict[str, Any]]:
    """Insert rows for domain meter readings."""
    return [
        {
            "transaction_pk": transaction_pk,
            "station_id": station_id,
            "evse_id": evse_id,
            "connector_id": connector_id,
            "sampled_at": r.sampled_at,
            "measurand": r.measurand,
            "phase": r.phase,
            "location": r.location,
            "context": r.context,
            "unit": r.unit,
            "value": r.value,
        }
        for r in readings
    ]


async def register_samples(
    session: AsyncSession,
    transactions: Sequence[tuple[str, int]],
    start: datetime,
    end: datetime,
) -> dict[int, list[tuple[datetime, float]]]:
    """The energy-register samples of these (station, transaction key) pairs taken in
    [start, end], in time order, by transaction key (only each one's own station's)."""
    if not transactions:
        return {}
    station_of = dict((pk, station) for station, pk in transactions)
    rows = await session.execute(
        select(
            MeterSample.transaction_pk,
            MeterSample.station_id,
            MeterSample.sampled_at,
            MeterSample.value,
        )
        .where(
            MeterSample.transaction_pk.in_(set(station_of)),
            MeterSample.measurand == ENERGY_REGISTER,
            MeterSample.phase.is_(None),
            MeterSample.sampled_at >= start,
            MeterSample.sampled_at <= end,
        )
        .order_by(MeterSample.transaction_pk, MeterSample.sampled_at)
    )
    found: dict[int, list[tuple[datetime, float]]] = {}
    for pk, station, at, value in rows:
        if pk is not None and station_of.get(pk) == station:
            found.setdefault(pk, []).append((at, float(value)))
    return found


CURRENT = "Current.Import"


@dataclass(frozen=True)
class PricingSamples:
    """A transaction's energy register readings (Wh) and summed currents (A), in time
    order: what its CDR is priced from."""

    energy: list[tuple[datetime, float]]
    current: list[tuple[datetime, float]]

    @property
    def register_range(self) -> tuple[float | None, float | None]:
        """Lowest and highest energy register reading."""
        if not self.energy:
            return None, None
        values = [value for _, value in self.energy]
        return min(values), max(values)


async def pricing_samples(
    session: AsyncSession, transactions: Sequence[tuple[str, int]]
) -> dict[int, PricingSamples]:
    """The :class:`PricingSamples` of these (station, transaction key) pairs in one
    query, by transaction key (only each one's own station's samples; one with none
    is absent).

    The current at a moment is the sum of its per-phase readings, as OCPI's current
    restrictions count it; a reading without a phase stands for the whole EVSE.
    """
    if not transactions:
        return {}
    station_of = dict((pk, station) for station, pk in transactions)
    rows = await session.execute(
        select(
            MeterSample.transaction_pk,
            MeterSample.station_id,
            MeterSample.sampled_at,
            MeterSample.measurand,
            MeterSample.phase,
            MeterSample.value,
        )
        .where(
            MeterSample.transaction_pk.in_(set(station_of)),
            MeterSample.measurand.in_([ENERGY_REGISTER, CURRENT]),
        )
        .order_by(MeterSample.transaction_pk, MeterSample.sampled_at, MeterSample.id)
    )
    energy: dict[int, list[tuple[datetime, float]]] = {}
    phases: dict[int, dict[datetime, dict[str | None, float]]] = {}
    for pk, station, at, measurand, phase, value in rows:
        if pk is None or station_of.get(pk) != station:
            continue
        if measurand == ENERGY_REGISTER:
            if phase is None:
                energy.setdefault(pk, []).append((at, value))
        else:
            phases.setdefault(pk, {}).setdefault(at, {})[phase] = value
    found: dict[int, PricingSamples] = {}
    for pk in set(energy) | set(phases):
        current = []
        for at, by_phase in sorted(phases.get(pk, {}).items()):
            # One reading per line conductor (L1, or L1-N): the neutral carries no
            # extra current of its own.
            lines = {p.split("-")[0]: v for p, v in by_phase.items() if p and p[0] == "L"}
            whole = by_phase.get(None)
            if lines:
                current.append((at, sum(lines.values())))
            elif whole is not None:
                current.append((at, whole))
        found[pk] = PricingSamples(energy.get(pk, []), current)
    return found
