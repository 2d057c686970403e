"""Invoices and credit notes: gap-free numbers, the CDRs they bill, their documents."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    DateTime,
    Numeric,
    Table,
    any_,
    delete,
    false,
    func,
    insert,
    select,
    type_coerce,
)
from sqlalchemy import cast as cast_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from activities.billing.invoices import CdrFacts
from activities.persistence.models import (
    ChargeDetailRecordRow,
    Invoice,
    InvoiceCounter,
    InvoiceDocument,
    InvoiceItem,
    utcnow,
)
from activities.persistence.types import ExactDecimal

# The tables' own INSERTs (Core, executemany): the ORM's bulk path costs more than
# the statement for an invoice of hundreds of sessions.
_ITEMS = cast(Table, InvoiceItem.__table__)
_DOCUMENTS = cast(Table, InvoiceDocument.__table__)

SERIES = {"invoice": "", "credit_note": "CN-", "debit_note": "DN-"}
"""Number prefix per kind: invoices, credit notes and debit notes are separate series."""


async def next_number(session: AsyncSession, operator: str, kind: str, year: int) -> int:
    """The next number of a series, taken in the caller's transaction (see
    :func:`next_numbers`)."""
    return await next_numbers(session, operator, kind, year, 1)


async def next_numbers(
    session: AsyncSession, operator: str, kind: str, year: int, count: int
) -> int:
    """The first of the next ``count`` numbers of a series, taken as one block in the
    caller's transaction.

    Gap-free: the counter row is locked by the UPDATE until the transaction ends
    (concurrent issuers of the same series wait in turn on PostgreSQL; SQLite has
    one writer), and a transaction that fails gives its numbers back by rolling
    the increment back with everything else. One statement: the first block of a
    series inserts its counter, every later one increments it.
    """
    if count < 1:
        raise ValueError("a block of numbers holds at least one")
    values = {"operator": operator, "kind": kind, "year": year, "last": count}
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(InvoiceCounter).values(values)
    last = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=["operator", "kind", "year"],
            set_={"last": InvoiceCounter.last + count},
        ).returning(InvoiceCounter.last)
    )
    assert last is not None
    return int(last) - count + 1


def format_number(operator: str, kind: str, year: int, seq: int) -> str:
    """How a number is printed: ``DEFAULT-2026-000042``, ``DEFAULT-CN-2026-000003``,
    ``DEFAULT-DN-2026-000001``."""
    return f"{operator.upper()}-{SERIES[kind]}{year}-{seq:06d}"


async def find_invoice(
    session: AsyncSession, account_id: str, period: str, *, content: bool = True
) -> Invoice | None:
    """The account's invoice of a period, if it was issued (``content`` False: its
    figures only, see :data:`WITHOUT_CONTENT`)."""
    query = select(Invoice).where(
        Invoice.account_id == account_id, Invoice.period == period, Invoice.kind == "invoice"
    )
    return await session.scalar(query if content else query.options(*WITHOUT_CONTENT))


async def find_invoices(
    session: AsyncSession, account_ids: Sequence[str], period: str
) -> dict[str, Invoice]:
    """The invoices of a period already issued to any of these accounts, by account."""
    if not account_ids:
        return {}
    rows = await session.scalars(
        select(Invoice)
        .where(
            Invoice.account_id.in_(list(account_ids)),
            Invoice.period == period,
            Invoice.kind == "invoice",
        )
        .options(*WITHOUT_CONTENT)
    )
    return {row.account_id: row for row in rows}


WITHOUT_CONTENT = (
    defer(Invoice.lines, raiseload=True),
    defer(Invoice.vat_breakdown, raiseload=True),
    defer(Invoice.account, raiseload=True),
)
"""Load options for an invoice's figures without its lines and printed account (an
invoice of a fleet's month has hundreds of lines); reading those raises."""


async def get_invoice(session: AsyncSession, invoice_id: int) -> Invoice | None:
    """One invoice or credit note."""
    return await session.get(Invoice, invoice_id)


async def list_invoices(
    session: AsyncSession,
    *,
    account_id: str | None = None,
    kind: str | None = None,
    period: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Invoice]:
    """Invoices and credit notes, newest first."""
    query = select(Invoice).order_by(Invoice.issued_at.desc(), Invoice.id.desc())
    if account_id is not None:
        query = query.where(Invoice.account_id == account_id)
    if kind is not None:
        query = query.where(Invoice.kind == kind)
    if period is not None:
        query = query.where(Invoice.period == period)
    return (await session.scalars(query.limit(limit).offset(offset))).all()


def _fact_columns(dialect: str) -> tuple[Any, ...]:
    """The columns invoicing reads of a CDR. On PostgreSQL the timestamps and amounts
    are taken as the driver returns them (UTC datetimes, in a session set to UTC, and
    Decimals), without the column types' per-value conversion SQLite needs."""
    cdr = ChargeDetailRecordRow
    # CDRs written before they had VAT: the total had none.
    excl: Any = func.coalesce(cdr.total_excl_vat, cdr.total_cost)
    vat: Any = func.coalesce(cdr.total_vat, 0)
    started: Any = cdr.started_at
    stopped: Any = cdr.stopped_at
    if dialect == "postgresql":
        started = type_coerce(started, DateTime(timezone=True))
        stopped = type_coerce(stopped, DateTime(timezone=True))
        excl, vat = type_coerce(excl, Numeric()), type_coerce(vat, Numeric())
    else:
        excl, vat = type_coerce(excl, ExactDecimal()), type_coerce(vat, ExactDecimal())
    return (
        cdr.account_id,
        cdr.id,
        cdr.transaction_ref,
        cdr.station_id,
        cdr.id_token,
        started,
        stopped,
        cdr.energy_wh,
        cdr.currency,
        excl,
        vat,
        cdr.cost_lines,
    )


async def uninvoiced_cdrs(
    session: AsyncSession, account_ids: Sequence[str], before: datetime
) -> dict[str, list[CdrFacts]]:
    """The CDRs of these accounts that stopped before ``before`` and are on no invoice
    yet, by account, each account's in order of stop time: the period's, and any that
    arrived after their own period closed.

    Two plain queries (the accounts' CDRs by their index, then which of them are
    billed), not an anti-join: a planner that last counted the invoice items when
    there were none keeps a plan for the join that scans every item. The caller
    bounds the size by the number of accounts it asks for.
    """
    found: dict[str, list[CdrFacts]] = {account: [] for account in account_ids}
    if not account_ids:
        return found
    cdr = ChargeDetailRecordRow
    # Each row: the account, then the CdrFacts fields in their order.
    rows: Sequence[Any] = (
        await session.execute(
            select(*_fact_columns(session.get_bind().dialect.name))
            .where(cdr.account_id.in_(list(account_ids)), cdr.stopped_at < before)
            .order_by(cdr.account_id, cdr.stopped_at, cdr.id)
        )
    ).all()
    billed = await _billed(session, [row[1] for row in rows])
    for account, *fields, lines in rows:
        if fields[0] not in billed:
            found[account].append(CdrFacts(*(*fields, lines or ())))
    return found


async def _billed(session: AsyncSession, cdr_ids: list[int]) -> set[int]:
    """Which of these CDRs an invoice already bills."""
    if not cdr_ids:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter: a statement of the same shape for any number of CDRs
        # (prepared once), instead of one placeholder per CDR.
        return set(
            await session.scalars(
                select(InvoiceItem.cdr_id).where(
                    InvoiceItem.cdr_id == any_(cast_(cdr_ids, ARRAY(BigInteger))),
                    InvoiceItem.credit == false(),
                )
            )
        )
    billed: set[int] = set()
    for start in range(0, len(cdr_ids), _SQLITE_CHUNK):
        billed.update(
            await session.scalars(
                select(InvoiceItem.cdr_id).where(
                    InvoiceItem.cdr_id.in_(cdr_ids[start : start + _SQLITE_CHUNK]),
                    InvoiceItem.credit == false(),
                )
            )
        )
    return billed


_SQLITE_CHUNK = 10_000
"""CDR ids per query on SQLite (which allows 32,766 parameters a statement)."""


async def add_items(
    session: AsyncSession,
    invoice_id: int,
    items: Sequence[tuple[int, Decimal, Decimal]],
    *,
    credit: bool = False,
) -> None:
    """Record the CDRs an invoice bills (or a credit note corrects), in one statement."""
    await add_items_of(session, {invoice_id: items}, credit=credit)


async def add_items_of(
    session: AsyncSession,
    items: dict[int, Sequence[tuple[int, Decimal, Decimal]]],
    *,
    credit: bool = False,
) -> None:
    """Record the CDRs several invoices bill (by invoice id): one COPY on PostgreSQL
    (a month's invoicing writes an item per CDR: a statement per row costs several
    times the row), one multi-row INSERT elsewhere."""
    if not any(items.values()):
        return
    if session.get_bind().dialect.name == "postgresql":
        flag = "t" if credit else "f"
        data = "".join(
            f"{invoice_id}\t{c}\t{flag}\t{e}\t{v}\n"
            for invoice_id, billed in items.items()
            for c, e, v in billed
        )
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        async with (
            driver.cursor() as cursor,
            cursor.copy(
                "COPY invoice_items (invoice_id, cdr_id, credit, excl_vat, vat) FROM STDIN"
            ) as copy,
        ):
            await copy.write(data)
        return
    await session.execute(
        insert(_ITEMS),
        [
            {"invoice_id": invoice_id, "cdr_id": c, "credit": credit, "excl_vat": e, "vat": v}
            for invoice_id, billed in items.items()
            for c, e, v in billed
        ],
    )


async def items_of(session: AsyncSession, invoice_id: int) -> Sequence[InvoiceItem]:
    """What an invoice bills, CDR by CDR."""
    return (
        await session.scalars(
            select(InvoiceItem).where(InvoiceItem.invoice_id == invoice_id).order_by(InvoiceItem.id)
        )
    ).all()


async def credited(session: AsyncSession, cdr_id: int) -> tuple[Decimal, Decimal]:
    """How much of a CDR credit notes have already given back, less what debit notes
    added (excl. VAT, VAT): what is left to credit is the CDR's total less this."""
    rows = (
        await session.execute(
            select(InvoiceItem.excl_vat, InvoiceItem.vat).where(
                InvoiceItem.cdr_id == cdr_id, InvoiceItem.credit.is_(True)
            )
        )
    ).all()
    return sum((r[0] for r in rows), Decimal(0)), sum((r[1] for r in rows), Decimal(0))


async def billed_on(session: AsyncSession, cdr_id: int) -> Invoice | None:
    """The invoice that billed a CDR, if any."""
    return await session.scalar(
        select(Invoice)
        .join(InvoiceItem, InvoiceItem.invoice_id == Invoice.id)
        .where(InvoiceItem.cdr_id == cdr_id, InvoiceItem.credit.is_(False))
    )


async def get_invoices(session: AsyncSession, invoice_ids: Sequence[int]) -> list[Invoice]:
    """These invoices, in id order (unknown ids left out)."""
    if not invoice_ids:
        return []
    rows = await session.scalars(
        select(Invoice).where(Invoice.id.in_(list(invoice_ids))).order_by(Invoice.id)
    )
    return list(rows)


async def rendered(session: AsyncSession, invoice_ids: Sequence[int]) -> dict[int, set[str]]:
    """The formats each of these invoices has been rendered in (those rendered only)."""
    found: dict[int, set[str]] = {}
    if invoice_ids:
        rows = await session.execute(
            select(InvoiceDocument.invoice_id, InvoiceDocument.format).where(
                InvoiceDocument.invoice_id.in_(list(invoice_ids))
            )
        )
        for invoice_id, fmt in rows:
            found.setdefault(invoice_id, set()).add(fmt)
    return found


async def store_documents(
    session: AsyncSession, invoice_id: int, documents: dict[str, bytes]
) -> None:
    """Keep rendered documents by format (replacing an earlier render of the same)."""
    await store_documents_of(session, {invoice_id: documents})


async def store_documents_of(session: AsyncSession, documents: dict[int, dict[str, bytes]]) -> None:
    """Keep several invoices' rendered documents (by invoice id, then format),
    replacing earlier renders of the same."""
    if not documents:
        return
    by_format: dict[str, list[int]] = {}
    for invoice_id, rendered in documents.items():
        for fmt in rendered:
            by_format.setdefault(fmt, []).append(invoice_id)
    for fmt, invoice_ids in sorted(by_format.items()):
        await session.execute(
            delete(InvoiceDocument).where(
                InvoiceDocument.format == fmt, InvoiceDocument.invoice_id.in_(invoice_ids)
            )
        )
    now = utcnow()
    await session.execute(
        insert(_DOCUMENTS),
        [
            {
                "invoice_id": invoice_id,
                "format": fmt,
                "content": content,
                "sha256": hashlib.sha256(content).hexdigest(),
                "created_at": now,
            }
            for invoice_id, rendered in documents.items()
            for fmt, content in rendered.items()
        ],
    )


async def document(session: AsyncSession, invoice_id: int, format: str) -> InvoiceDocument | None:
    """A rendered document of an invoice, or None (not rendered yet)."""
    return await session.get(InvoiceDocument, (invoice_id, format))
