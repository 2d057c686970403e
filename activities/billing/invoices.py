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
    if isinstance(amount, str) and "." in amount:
        # The cost lines' amounts are decimal text: read the digits (a tenth of the
        # time of a Decimal), anything unusual by the exact path below.
        units, _, fraction = amount.partition(".")
        if len(fraction) <= exponent and units.lstrip("-").isdigit() and fraction.isdigit():
            return int(units + fraction.ljust(exponent, "0"))
    value = (
        amount if isinstance(amount, Decimal) else Decimal(amount if amount is not None else 0)
    ).scaleb(exponent)
    whole = int(value)
    if value != whole:
        raise InvoiceError(f"{amount} has more decimals than the currency")
    return whole


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


@dataclass(frozen=True)
class DraftRequest:
    """One account's CDRs to draft an invoice of, and how the account bills."""

    cdrs: Sequence[CdrFacts]
    currency: str
    grouping: str
    time_zone: str


def draft_invoice(
    cdrs: Iterable[CdrFacts], *, currency: str, grouping: str, time_zone: str
) -> DraftInvoice:
    """The invoice of these CDRs in ``currency``, its lines grouped by ``grouping``
    (see :func:`draft_invoices`); raises :class:`InvoiceError`."""
    (draft,) = draft_invoices([DraftRequest(list(cdrs), currency, grouping, time_zone)])
    if isinstance(draft, InvoiceError):
        raise draft
    return draft


@dataclass
class _Columns:
    """One invoice's CDRs as columns, amounts in minor units."""

    exponent: int
    ids: list[int] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    stations: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    starts: list[datetime] = field(default_factory=list)
    stops: list[datetime] = field(default_factory=list)
    energy: list[float] = field(default_factory=list)
    excls: list[int] = field(default_factory=list)
    vats: list[int] = field(default_factory=list)
    by_rate: dict[str, list[int]] = field(default_factory=dict)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _columns(request: DraftRequest) -> _Columns:
    """The request's CDRs in its currency as columns; others skipped."""
    if request.grouping not in GROUPINGS:
        raise InvoiceError(f"grouping {request.grouping!r} is not one of {GROUPINGS}")
    currency = request.currency
    exponent = minor_unit(currency)
    out = _Columns(exponent)
    by_rate = out.by_rate
    for cdr in request.cdrs:
        if cdr.currency != currency:
            out.skipped.append((cdr.cdr_id, f"in {cdr.currency}, the account bills in {currency}"))
            continue
        excl, vat = to_minor(cdr.total_excl_vat, exponent), to_minor(cdr.total_vat, exponent)
        lines = cdr.cost_lines or [
            {"vat_rate": None, "excl_vat": cdr.total_excl_vat, "vat": cdr.total_vat}
        ]
        lines_excl = lines_vat = 0
        for line in lines:
            line_excl = to_minor(line["excl_vat"], exponent)
            line_vat = to_minor(line["vat"], exponent)
            sums = by_rate.setdefault(_rate(line.get("vat_rate")), [0, 0])
            sums[0] += line_excl
            sums[1] += line_vat
            lines_excl, lines_vat = lines_excl + line_excl, lines_vat + line_vat
        if (lines_excl, lines_vat) != (excl, vat):
            # The engine guarantees it; a CDR that breaks it is not billed on a guess.
            raise InvoiceError(f"CDR {cdr.cdr_id}: its cost lines do not add up to its totals")
        out.ids.append(cdr.cdr_id)
        out.refs.append(cdr.transaction_ref)
        out.stations.append(cdr.station_id)
        out.tokens.append(cdr.id_token or "")
        out.starts.append(cdr.started_at)
        out.stops.append(cdr.stopped_at)
        out.energy.append(cdr.energy_wh)
        out.excls.append(excl)
        out.vats.append(vat)
    return out


def draft_invoices(requests: Sequence[DraftRequest]) -> list[DraftInvoice | InvoiceError]:
    """Each account's invoice of its CDRs, in the order asked: the lines grouped as the
    account bills (one per session, or per station or card with its sessions' sums),
    the VAT per rate, the totals, the CDRs billed. A CDR in another currency than the
    account's is left out (``skipped``); an account whose CDRs cannot be invoiced
    gets the :class:`InvoiceError` instead.

    The station and card sums of all the accounts are one pandas grouping: a frame
    per invoice costs more than the sums themselves.
    """
    columns: list[_Columns | InvoiceError] = []
    for request in requests:
        try:
            columns.append(_columns(request))
        except InvoiceError as error:
            columns.append(error)
    grouped = _grouped_sums(
        [
            (index, request.grouping, found)
            for index, (request, found) in enumerate(zip(requests, columns, strict=True))
            if isinstance(found, _Columns) and request.grouping != "session"
        ]
    )
    drafts: list[DraftInvoice | InvoiceError] = []
    for index, (request, found) in enumerate(zip(requests, columns, strict=True)):
        if isinstance(found, InvoiceError):
            drafts.append(found)
            continue
        zone = ZoneInfo(request.time_zone)
        if request.grouping == "session":
            lines = _session_lines(found, zone)
        else:
            lines = _grouped_lines(request.grouping, grouped.get(index, []), found.exponent, zone)
        drafts.append(_draft(request.currency, found, lines))
    return drafts


def _draft(currency: str, found: _Columns, lines: list[dict[str, Any]]) -> DraftInvoice:
    exponent = found.exponent
    total_excl, total_vat = sum(found.excls), sum(found.vats)
    return DraftInvoice(
        currency=currency,
        lines=lines,
        vat_breakdown=[
            {
                "rate": rate,
                "excl_vat": str(from_minor(excl, exponent)),
                "vat": str(from_minor(vat, exponent)),
            }
            for rate, (excl, vat) in sorted(found.by_rate.items(), key=lambda row: Decimal(row[0]))
        ],
        total_excl_vat=from_minor(total_excl, exponent),
        total_vat=from_minor(total_vat, exponent),
        total_incl_vat=from_minor(total_excl + total_vat, exponent),
        items=[
            (cdr_id, from_minor(excl, exponent), from_minor(vat, exponent))
            for cdr_id, excl, vat in zip(found.ids, found.excls, found.vats, strict=True)
        ],
        skipped=found.skipped,
    )


def _rate(rate: Any) -> str:
    """A VAT rate as the breakdown names it: ``21``, ``5.5``; none is ``0``."""
    if rate is None:
        return "0"
    named = _RATES.get(rate) if isinstance(rate, str) else None
    if named is None:
        named = format(Decimal(rate).normalize(), "f")
        if isinstance(rate, str) and len(_RATES) < 1000:
            _RATES[rate] = named
    return named


_RATES: dict[str, str] = {}
"""Rates as written in cost lines, as the breakdown names them (a handful in use)."""


def _amounts(excl: int, vat: int, exponent: int) -> dict[str, str]:
    return {
        "excl_vat": str(from_minor(excl, exponent)),
        "vat": str(from_minor(vat, exponent)),
        "incl_vat": str(from_minor(excl + vat, exponent)),
    }


def _kwh(energy_wh: float) -> str:
    return format((Decimal(repr(energy_wh)) / 1000).normalize(), "f")


def _session_lines(found: _Columns, zone: ZoneInfo) -> list[dict[str, Any]]:
    """One line per session, in time order."""
    starts, ids = found.starts, found.ids
    order = sorted(range(len(ids)), key=lambda k: (starts[k], ids[k]))
    return [
        {
            "group": "session",
            "key": str(ids[k]),
            "sessions": 1,
            "energy_kwh": _kwh(found.energy[k]),
            "first": _local(starts[k], zone),
            "last": _local(found.stops[k], zone),
            **_amounts(found.excls[k], found.vats[k], found.exponent),
            "cdr_id": ids[k],
            "station_id": found.stations[k],
            "transaction_id": found.refs[k],
            "id_token": found.tokens[k] or None,
        }
        for k in order
    ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_Sums = tuple[str, float, int, int, int, datetime, datetime]
"""A station's or card's sums: key, Wh, excl., VAT, sessions, first start, last stop."""


def _grouped_sums(invoices: list[tuple[int, str, _Columns]]) -> dict[int, list[_Sums]]:
    """Per invoice (by its index), the sums of each station or card, in one grouping.

    Times go into the frame as exact integer microseconds since the epoch (tz-aware
    datetimes would be converted one by one)."""
    index: list[int] = []
    keys: list[str] = []
    energy: list[float] = []
    excls: list[int] = []
    vats: list[int] = []
    starts: list[int] = []
    stops: list[int] = []
    for number, grouping, found in invoices:
        size = len(found.ids)
        index.extend([number] * size)
        keys.extend(found.stations if grouping == "station" else found.tokens)
        energy.extend(found.energy)
        excls.extend(found.excls)
        vats.extend(found.vats)
        starts.extend([(moment - _EPOCH) // _MICROSECOND for moment in found.starts])
        stops.extend([(moment - _EPOCH) // _MICROSECOND for moment in found.stops])
    if not index:
        return {}
    frame = pd.DataFrame(
        {
            "invoice": index,
            "key": keys,
            "energy": energy,
            "excl": excls,
            "vat": vats,
            "start": starts,
            "stop": stops,
        }
    )
    # Separate reductions: a named aggregation costs several times more per call.
    groups = frame.groupby(["invoice", "key"], sort=False)
    sums = groups[["energy", "excl", "vat"]].sum()
    out: dict[int, list[_Sums]] = {}
    rows = zip(
        sums.index.get_level_values(0).tolist(),
        sums.index.get_level_values(1).tolist(),
        sums["energy"].tolist(),
        sums["excl"].tolist(),
        sums["vat"].tolist(),
        groups.size().tolist(),
        groups["start"].min().tolist(),
        groups["stop"].max().tolist(),
        strict=True,
    )
    for number, key, wh, excl, vat, count, first, last in rows:
        out.setdefault(number, []).append(
            (
                key,
                wh,
                int(excl),
                int(vat),
                int(count),
                _EPOCH + int(first) * _MICROSECOND,
                _EPOCH + int(last) * _MICROSECOND,
            )
        )
    return out


def _grouped_lines(
    grouping: str, sums: list[_Sums], exponent: int, zone: ZoneInfo
) -> list[dict[str, Any]]:
    """One line per station or card: its sessions' sums, in order of its first one."""
    ordered = sorted(sums, key=lambda row: (row[5], row[0]))
    return [
        {
            "group": grouping,
            "key": key,
            "sessions": count,
            "energy_kwh": _kwh(float(wh)),
            "first": _local(first, zone),
            "last": _local(last, zone),
            **_amounts(excl, vat, exponent),
        }
        for key, wh, excl, vat, count, first, last in ordered
    ]


def _local(moment: datetime, zone: ZoneInfo) -> str:
    value = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return value.astimezone(zone).isoformat(timespec="minutes")
