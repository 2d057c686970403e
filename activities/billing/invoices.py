"""An account's period of CDRs turned into an invoice (pure: no database, no I/O).

The rule that makes an invoice reconcile: **every amount on it is a sum of the CDRs'
own rounded amounts.** A line (a session, a station or an id token, as the account
groups them) adds up its CDRs' totals; the VAT breakdown adds up, per rate, the VAT
of the CDRs' cost lines; the invoice's totals add up the CDRs'. Nothing is rounded
again, so each figure traces back to CDRs, and each CDR to its tariff version and
meter data. Amounts are handled as integers of the currency's minor unit (exact,
and fast in pandas).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from activities.billing.currencies import minor_unit


class InvoiceError(ValueError):
    """CDRs that cannot be invoiced as given (their own lines do not add up)."""


def period_of(moment: datetime, time_zone: str) -> str:
    """The monthly period (``YYYY-MM``) ``moment`` falls in, in the account's zone."""
    return moment.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m")


def closed_period(scheduled: datetime, time_zone: str) -> str:
    """The period that had just ended when a run scheduled at ``scheduled`` (shortly
    after a local midnight that starts a month) fires."""
    local = scheduled.astimezone(ZoneInfo(time_zone))
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def period_bounds(period: str, time_zone: str) -> tuple[datetime, datetime]:
    """The UTC instants where a ``YYYY-MM`` period starts and ends (local midnights)."""
    try:
        year, month = (int(part) for part in period.split("-"))
        start = date(year, month, 1)
    except ValueError:
        raise InvoiceError(f"period {period!r} is not YYYY-MM") from None
    end = date(year + month // 12, month % 12 + 1, 1)
    zone = ZoneInfo(time_zone)

    def midnight(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)

    return midnight(start), midnight(end)


def to_minor(amount: Decimal | str | None, exponent: int) -> int:
    """An amount in minor units; one with more decimals than the currency has is an
    error (CDR amounts are rounded to the currency already)."""
    value = Decimal(amount if amount is not None else 0).scaleb(exponent)
    if value != value.to_integral_value():
        raise InvoiceError(f"{amount} has more decimals than the currency")
    return int(value)


def from_minor(amount: int, exponent: int) -> Decimal:
    """Minor units back to an amount with the currency's decimals."""
    return Decimal(int(amount)).scaleb(-exponent)


@dataclass(frozen=True)
class CdrFacts:
    """What invoicing reads of one CDR."""

    cdr_id: int
    transaction_ref: str
    station_id: str
    id_token: str | None
    started_at: datetime
    stopped_at: datetime
    energy_wh: float
    currency: str
    total_excl_vat: Decimal
    total_vat: Decimal
    cost_lines: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class DraftInvoice:
    """An invoice before it has a number: lines, VAT per rate, totals, its CDRs."""

    currency: str
    lines: list[dict[str, Any]]
    vat_breakdown: list[dict[str, Any]]
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    items: list[tuple[int, Decimal, Decimal]]  # (cdr id, excl. VAT, VAT)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (cdr id, why)

    @property
    def cdr_count(self) -> int:
        """How many CDRs it bills."""
        return len(self.items)


GROUPINGS = ("session", "station", "token")


def draft_invoice(
    cdrs: Iterable[CdrFacts], *, currency: str, grouping: str, time_zone: str
) -> DraftInvoice:
    """The invoice of these CDRs in ``currency``, its lines grouped by ``grouping``.

    A CDR in another currency cannot be on it: it is returned in ``skipped``.
    """
    if grouping not in GROUPINGS:
        raise InvoiceError(f"grouping {grouping!r} is not one of {GROUPINGS}")
    exponent = minor_unit(currency)
    # Column lists (pandas builds a frame from them in one step; a list of rows or a
    # frame per CDR costs more than the grouping itself).
    ids: list[int] = []
    refs: list[str] = []
    stations: list[str] = []
    tokens: list[str] = []
    starts: list[datetime] = []
    stops: list[datetime] = []
    energy: list[float] = []
    excls: list[int] = []
    vats: list[int] = []
    rates: list[str] = []
    rate_excl: list[int] = []
    rate_vat: list[int] = []
    skipped: list[tuple[int, str]] = []
    for cdr in cdrs:
        if cdr.currency != currency:
            skipped.append((cdr.cdr_id, f"in {cdr.currency}, the account bills in {currency}"))
            continue
        excl, vat = to_minor(cdr.total_excl_vat, exponent), to_minor(cdr.total_vat, exponent)
        lines = cdr.cost_lines or [
            {"vat_rate": None, "excl_vat": cdr.total_excl_vat, "vat": cdr.total_vat}
        ]
        lines_excl = lines_vat = 0
        for line in lines:
            rate = line.get("vat_rate")
            rates.append(_rate(rate))
            line_excl, line_vat = (
                to_minor(line["excl_vat"], exponent),
                to_minor(line["vat"], exponent),
            )
            rate_excl.append(line_excl)
            rate_vat.append(line_vat)
            lines_excl, lines_vat = lines_excl + line_excl, lines_vat + line_vat
        if (lines_excl, lines_vat) != (excl, vat):
            # The engine guarantees it; a CDR that breaks it is not billed on a guess.
            raise InvoiceError(f"CDR {cdr.cdr_id}: its cost lines do not add up to its totals")
        ids.append(cdr.cdr_id)
        refs.append(cdr.transaction_ref)
        stations.append(cdr.station_id)
        tokens.append(cdr.id_token or "")
        starts.append(cdr.started_at)
        stops.append(cdr.stopped_at)
        energy.append(cdr.energy_wh)
        excls.append(excl)
        vats.append(vat)
    by_rate: dict[str, list[int]] = {}
    for rate, excl, vat in zip(rates, rate_excl, rate_vat, strict=True):
        sums = by_rate.setdefault(rate, [0, 0])
        sums[0] += excl
        sums[1] += vat
    total_excl, total_vat = sum(excls), sum(vats)
    zone = ZoneInfo(time_zone)
    if grouping == "session":
        lines_out = _session_lines(
            ids, refs, stations, tokens, starts, stops, energy, excls, vats, exponent, zone
        )
    else:
        keys = stations if grouping == "station" else tokens
        lines_out = _grouped_lines(
            grouping, keys, starts, stops, energy, excls, vats, exponent, zone
        )
    return DraftInvoice(
        currency=currency,
        lines=lines_out,
        vat_breakdown=[
            {
                "rate": rate,
                "excl_vat": str(from_minor(int(excl), exponent)),
                "vat": str(from_minor(int(vat), exponent)),
            }
            for rate, (excl, vat) in sorted(by_rate.items(), key=lambda row: Decimal(row[0]))
        ],
        total_excl_vat=from_minor(total_excl, exponent),
        total_vat=from_minor(total_vat, exponent),
        total_incl_vat=from_minor(total_excl + total_vat, exponent),
        items=[
            (cdr_id, from_minor(excl, exponent), from_minor(vat, exponent))
            for cdr_id, excl, vat in zip(ids, excls, vats, strict=True)
        ],
        skipped=skipped,
    )


def _rate(rate: Any) -> str:
    """A VAT rate as the breakdown names it: ``21``, ``5.5``; none is ``0``."""
    if rate is None:
        return "0"
    return format(Decimal(rate).normalize(), "f")


def _amounts(excl: int, vat: int, exponent: int) -> dict[str, str]:
    return {
        "excl_vat": str(from_minor(excl, exponent)),
        "vat": str(from_minor(vat, exponent)),
        "incl_vat": str(from_minor(excl + vat, exponent)),
    }


def _kwh(energy_wh: float) -> str:
    return format((Decimal(repr(energy_wh)) / 1000).normalize(), "f")


def _session_lines(
    ids: list[int],
    refs: list[str],
    stations: list[str],
    tokens: list[str],
    starts: list[datetime],
    stops: list[datetime],
    energy: list[float],
    excls: list[int],
    vats: list[int],
    exponent: int,
    zone: ZoneInfo,
) -> list[dict[str, Any]]:
    """One line per session, in time order."""
    order = sorted(range(len(ids)), key=lambda k: (starts[k], ids[k]))
    return [
        {
            "group": "session",
            "key": str(ids[k]),
            "sessions": 1,
            "energy_kwh": _kwh(energy[k]),
            "first": _local(starts[k], zone),
            "last": _local(stops[k], zone),
            **_amounts(excls[k], vats[k], exponent),
            "cdr_id": ids[k],
            "station_id": stations[k],
            "transaction_id": refs[k],
            "id_token": tokens[k] or None,
        }
        for k in order
    ]


def _grouped_lines(
    grouping: str,
    keys: list[str],
    starts: list[datetime],
    stops: list[datetime],
    energy: list[float],
    excls: list[int],
    vats: list[int],
    exponent: int,
    zone: ZoneInfo,
) -> list[dict[str, Any]]:
    """One line per station or card: its sessions' sums, in order of its first one."""
    if not keys:
        return []
    frame = pd.DataFrame({"key": keys, "energy": energy, "excl": excls, "vat": vats, "n": 1})
    sums = frame.groupby("key", sort=False).sum()
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    for key, start, stop in zip(keys, starts, stops, strict=True):
        if key not in first or start < first[key]:
            first[key] = start
        if key not in last or stop > last[key]:
            last[key] = stop
    rows = zip(
        sums.index,
        sums["energy"].tolist(),
        sums["excl"].tolist(),
        sums["vat"].tolist(),
        sums["n"].tolist(),
        strict=True,
    )
    lines = [
        {
            "group": grouping,
            "key": key,
            "sessions": int(count),
            "energy_kwh": _kwh(float(kwh)),
            "first": _local(first[key], zone),
            "last": _local(last[key], zone),
            **_amounts(int(excl), int(vat), exponent),
        }
        for key, kwh, excl, vat, count in rows
    ]
    lines.sort(key=lambda line: (line["first"], line["key"]))
    return lines


def _local(moment: datetime, zone: ZoneInfo) -> str:
    value = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return value.astimezone(zone).isoformat(timespec="minutes")
