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
    rows: list[tuple[Any, ...]] = []
    vat_rows: list[tuple[int, str, int, int]] = []
    skipped: list[tuple[int, str]] = []
    for cdr in cdrs:
        if cdr.currency != currency:
            skipped.append((cdr.cdr_id, f"in {cdr.currency}, the account bills in {currency}"))
            continue
        excl, vat = to_minor(cdr.total_excl_vat, exponent), to_minor(cdr.total_vat, exponent)
        rows.append(
            (
                cdr.cdr_id,
                cdr.transaction_ref,
                cdr.station_id,
                cdr.id_token or "",
                cdr.started_at,
                cdr.stopped_at,
                cdr.energy_wh,
                excl,
                vat,
            )
        )
        lines = list(cdr.cost_lines) or [
            {"vat_rate": None, "excl_vat": cdr.total_excl_vat, "vat": cdr.total_vat}
        ]
        for line in lines:
            rate = line.get("vat_rate")
            vat_rows.append(
                (
                    cdr.cdr_id,
                    str(Decimal(rate).normalize()) if rate is not None else "0",
                    to_minor(line["excl_vat"], exponent),
                    to_minor(line["vat"], exponent),
                )
            )
    frame = pd.DataFrame(
        rows,
        columns=[
            "cdr_id",
            "transaction",
            "station_id",
            "id_token",
            "started_at",
            "stopped_at",
            "energy_wh",
            "excl",
            "vat",
        ],
    )
    by_rate = pd.DataFrame(vat_rows, columns=["cdr_id", "rate", "excl", "vat"])
    _check_lines_add_up(frame, by_rate)
    total_excl, total_vat = int(frame["excl"].sum()), int(frame["vat"].sum())
    return DraftInvoice(
        currency=currency,
        lines=_lines(frame, grouping, exponent, time_zone),
        vat_breakdown=[
            {
                "rate": rate,
                "excl_vat": str(from_minor(int(group["excl"].sum()), exponent)),
                "vat": str(from_minor(int(group["vat"].sum()), exponent)),
            }
            for rate, group in sorted(by_rate.groupby("rate"), key=lambda g: Decimal(g[0]))
        ],
        total_excl_vat=from_minor(total_excl, exponent),
        total_vat=from_minor(total_vat, exponent),
        total_incl_vat=from_minor(total_excl + total_vat, exponent),
        items=[
            (int(cdr_id), from_minor(excl, exponent), from_minor(vat, exponent))
            for cdr_id, excl, vat in zip(frame["cdr_id"], frame["excl"], frame["vat"], strict=True)
        ],
        skipped=skipped,
    )


def _check_lines_add_up(frame: pd.DataFrame, by_rate: pd.DataFrame) -> None:
    """Each CDR's cost lines add up to its totals (the engine guarantees it; a CDR
    that breaks it must not be billed on a guess)."""
    if frame.empty:
        return
    sums = by_rate.groupby("cdr_id")[["excl", "vat"]].sum()
    sums.columns = ["excl_lines", "vat_lines"]
    joined = frame.set_index("cdr_id")[["excl", "vat"]].join(sums)
    wrong = joined[
        (joined["excl"] != joined["excl_lines"]) | (joined["vat"] != joined["vat_lines"])
    ]
    if not wrong.empty:
        raise InvoiceError(f"CDR {int(wrong.index[0])}: its cost lines do not add up to its totals")


def _lines(
    frame: pd.DataFrame, grouping: str, exponent: int, time_zone: str
) -> list[dict[str, Any]]:
    """The invoice's lines, in time order of their first session."""
    if frame.empty:
        return []
    zone = ZoneInfo(time_zone)
    key = {"session": "cdr_id", "station": "station_id", "token": "id_token"}[grouping]
    grouped = (
        frame.groupby(key, sort=False)
        .agg(
            sessions=("cdr_id", "size"),
            energy_wh=("energy_wh", "sum"),
            excl=("excl", "sum"),
            vat=("vat", "sum"),
            first=("started_at", "min"),
            last=("stopped_at", "max"),
            station_id=("station_id", "first"),
            id_token=("id_token", "first"),
            transaction=("transaction", "first"),
        )
        .sort_values(["first", "excl"])
    )
    out = []
    for group, row in grouped.iterrows():
        excl, vat = int(row["excl"]), int(row["vat"])
        line: dict[str, Any] = {
            "group": grouping,
            "key": str(group),
            "sessions": int(row["sessions"]),
            "energy_kwh": str(Decimal(str(row["energy_wh"])) / 1000),
            "first": _local(row["first"], zone),
            "last": _local(row["last"], zone),
            "excl_vat": str(from_minor(excl, exponent)),
            "vat": str(from_minor(vat, exponent)),
            "incl_vat": str(from_minor(excl + vat, exponent)),
        }
        if grouping == "session":
            line.update(
                cdr_id=int(group),
                station_id=row["station_id"],
                transaction_id=row["transaction"],
                id_token=row["id_token"] or None,
            )
        out.append(line)
    return out


def _local(moment: Any, zone: ZoneInfo) -> str:
    value = pd.Timestamp(moment).to_pydatetime()
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone).isoformat(timespec="minutes")
