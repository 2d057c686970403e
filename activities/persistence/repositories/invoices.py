"""Invoices and credit notes: gap-free numbers, the CDRs they bill, their documents."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, and_, delete, false, insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from activities.billing.invoices import CdrFacts
from activities.persistence.models import (
    ChargeDetailRecordRow,
    Invoice,
    InvoiceCounter,
    InvoiceDocument,
    InvoiceItem,
    utcnow,
)

# The tables' own INSERTs (Core, executemany): the ORM's bulk path costs more than
# the statement for an invoice of hundreds of sessions.
_ITEMS = cast(Table, InvoiceItem.__table__)
_DOCUMENTS = cast(Table, InvoiceDocument.__table__)

SERIES = {"invoice": "", "credit_note": "CN-"}
"""Number prefix per kind: invoices and credit notes are separate series."""


async def next_number(session: AsyncSession, operator: str, kind: str, year: int) -> int:
    """The next number of a series, taken in the caller's transaction.

    Gap-free: the counter row is locked by the UPDATE until the transaction ends
    (concurrent issuers of the same series wait in turn on PostgreSQL; SQLite has
    one writer), and a transaction that fails gives its number back by rolling
    the increment back with everything else. One statement: the first number of a
    series inserts its counter, every later one increments it.
    """
    values = {"operator": operator, "kind": kind, "year": year, "last": 1}
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(InvoiceCounter).values(values)
    number = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=["operator", "kind", "year"],
            set_={"last": InvoiceCounter.last + 1},
        ).returning(InvoiceCounter.last)
    )
    assert number is not None
    return int(number)


def format_number(operator: str, kind: str, year: int, seq: int) -> str:
    """How a number is printed: ``DEFAULT-2026-000042``, ``DEFAULT-CN-2026-000003``."""
    return f"{operator.upper()}-{SERIES[kind]}{year}-{seq:06d}"


async def find_invoice(session: AsyncSession, account_id: str, period: str) -> Invoice | None:
    """The account's invoice of a period, if it was issued."""
    return await session.scalar(
        select(Invoice).where(
            Invoice.account_id == account_id, Invoice.period == period, Invoice.kind == "invoice"
        )
    )


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


_FACT_COLUMNS = (
    ChargeDetailRecordRow.id,
    ChargeDetailRecordRow.transaction_ref,
    ChargeDetailRecordRow.station_id,
    ChargeDetailRecordRow.id_token,
    ChargeDetailRecordRow.started_at,
    ChargeDetailRecordRow.stopped_at,
    ChargeDetailRecordRow.energy_wh,
    ChargeDetailRecordRow.currency,
    ChargeDetailRecordRow.total_excl_vat,
    ChargeDetailRecordRow.total_vat,
    ChargeDetailRecordRow.total_cost,
    ChargeDetailRecordRow.cost_lines,
)


async def uninvoiced_cdrs(
    session: AsyncSession, account_id: str, before: datetime, *, batch: int = 5000
) -> AsyncIterator[list[CdrFacts]]:
    """The account's CDRs that stopped before ``before`` and are on no invoice yet, in
    batches: the period's, and any that arrived after their own period closed.

    Two plain queries a batch (the account's CDRs by its index, then which of them
    are billed), not an anti-join: a planner that last counted the invoice items
    when there were none keeps a plan for the join that scans every CDR.
    """
    cdr = ChargeDetailRecordRow
    after: tuple[datetime, int] | None = None
    while True:
        # In the order of the account's index (account, stop time), so each batch is
        # one range of it: ordered by id instead, a generic plan walks the primary key
        # through every account's CDRs.
        query = (
            select(*_FACT_COLUMNS)
            .where(cdr.account_id == account_id, cdr.stopped_at < before)
            .order_by(cdr.stopped_at, cdr.id)
            .limit(batch)
        )
        if after is not None:
            query = query.where(
                or_(cdr.stopped_at > after[0], and_(cdr.stopped_at == after[0], cdr.id > after[1]))
            )
        rows = (await session.execute(query)).all()
        if not rows:
            return
        billed = set(
            await session.scalars(
                select(InvoiceItem.cdr_id).where(
                    InvoiceItem.cdr_id.in_([row[0] for row in rows]),
                    InvoiceItem.credit == false(),
                )
            )
        )
        yield [_facts(row) for row in rows if row[0] not in billed]
        if len(rows) < batch:
            return
        after = (rows[-1][5], rows[-1][0])


def _facts(row: Any) -> CdrFacts:
    (pk, ref, station, token, started, stopped, energy, currency, excl, vat, total, lines) = row
    if excl is None:  # written before CDRs had VAT: the total had none
        excl, vat = total, Decimal(0)
    return CdrFacts(
        cdr_id=pk,
        transaction_ref=ref,
        station_id=station,
        id_token=token,
        started_at=started,
        stopped_at=stopped,
        energy_wh=energy,
        currency=currency,
        total_excl_vat=excl,
        total_vat=vat if vat is not None else Decimal(0),
        cost_lines=lines or (),
    )


async def add_items(
    session: AsyncSession,
    invoice_id: int,
    items: Sequence[tuple[int, Decimal, Decimal]],
    *,
    credit: bool = False,
) -> None:
    """Record the CDRs an invoice bills (or a credit note corrects), in one statement."""
    if items:
        await session.execute(
            insert(_ITEMS),
            [
                {"invoice_id": invoice_id, "cdr_id": c, "credit": credit, "excl_vat": e, "vat": v}
                for c, e, v in items
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
    """How much of a CDR credit notes have already given back (excl. VAT, VAT)."""
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


async def store_documents(
    session: AsyncSession, invoice_id: int, documents: dict[str, bytes]
) -> None:
    """Keep rendered documents by format (replacing an earlier render of the same)."""
    await session.execute(
        delete(InvoiceDocument).where(
            InvoiceDocument.invoice_id == invoice_id, InvoiceDocument.format.in_(list(documents))
        )
    )
    await session.execute(
        insert(_DOCUMENTS),
        [
            {
                "invoice_id": invoice_id,
                "format": fmt,
                "content": content,
                "sha256": hashlib.sha256(content).hexdigest(),
                "created_at": utcnow(),
            }
            for fmt, content in documents.items()
        ],
    )


async def document(session: AsyncSession, invoice_id: int, format: str) -> InvoiceDocument | None:
    """A rendered document of an invoice, or None (not rendered yet)."""
    return await session.get(InvoiceDocument, (invoice_id, format))
