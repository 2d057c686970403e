"""Activities of the invoicing workflows: issue an account's invoice for a period,
render it, collect its payment; list the accounts a scheduled run invoices; and
credit notes, the one way a CDR is corrected."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.billing.currencies import round_money
from activities.billing.invoice_documents import invoice_csv, invoice_pdf
from activities.billing.invoices import draft_invoice, period_bounds
from activities.persistence.database import Database
from activities.persistence.models import BillingAccount, Invoice
from activities.persistence.repositories import accounts, cdrs, invoices, reconciliation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IssueRequest:
    """Input of :meth:`InvoicingActivities.issue_invoice`."""

    account_id: str
    period: str
    issued_at: datetime


@dataclass(frozen=True)
class InvoiceSummary:
    """What an invoicing run issued (``invoice_id`` None: nothing to bill)."""

    account_id: str
    period: str
    invoice_id: int | None = None
    number: str | None = None
    currency: str | None = None
    total_incl_vat: str | None = None
    cdr_count: int = 0
    # True when this run issued it; False when an earlier run had (a re-run).
    issued_now: bool = False
    skipped: int = 0


@dataclass(frozen=True)
class AccountsPage:
    """Input of :meth:`InvoicingActivities.accounts_to_invoice`."""

    time_zone: str
    after: str = ""
    limit: int = 500


def account_snapshot(account: BillingAccount) -> dict[str, Any]:
    """The account as an invoice prints it, frozen at issue."""
    return {
        "id": account.id,
        "name": account.name,
        "address": dict(account.address),
        "vat_id": account.vat_id,
        "email": account.email,
        "language": account.language,
        "grouping": account.grouping,
    }


def invoice_document(row: Invoice) -> dict[str, Any]:
    """What the PDF and CSV are rendered from: the stored invoice, nothing else."""
    zone = ZoneInfo(row.account.get("time_zone", "UTC")) if row.account else None
    issued = row.issued_at.astimezone(zone) if zone else row.issued_at
    due = row.due_at.astimezone(zone) if zone else row.due_at
    corrects = None
    if row.corrects_id is not None:
        corrects = row.account.get("corrects_number")
    return {
        "kind": row.kind,
        "number": row.number,
        "issuer": row.operator,
        "issued_on": issued.date().isoformat(),
        "due_on": due.date().isoformat() if row.kind == "invoice" else None,
        "period": row.period,
        "corrects": corrects,
        "currency": row.currency,
        "account": row.account,
        "lines": row.lines,
        "vat_breakdown": row.vat_breakdown,
        "total_excl_vat": str(round_money(row.total_excl_vat, row.currency)),
        "total_vat": str(round_money(row.total_vat, row.currency)),
        "total_incl_vat": str(round_money(row.total_incl_vat, row.currency)),
    }


async def issue(
    session: AsyncSession, account: BillingAccount, period: str, issued_at: datetime
) -> tuple[Invoice | None, bool, int]:
    """The account's invoice for ``period``, issued now if it was not yet: (invoice,
    issued now, CDRs skipped). None when there is nothing to bill.

    It bills every CDR of the account that stopped before the period's end and is on
    no invoice yet: the period's own, and any that arrived after their period had
    been invoiced (a late CDR goes on the next invoice).
    """
    existing = await invoices.find_invoice(session, account.id, period)
    if existing is not None:
        return existing, False, 0
    start, end = period_bounds(period, account.time_zone)
    facts = [
        fact async for batch in invoices.uninvoiced_cdrs(session, account.id, end) for fact in batch
    ]
    draft = draft_invoice(
        facts, currency=account.currency, grouping=account.grouping, time_zone=account.time_zone
    )
    for cdr_id, why in draft.skipped:
        reconciliation.add_item(
            session,
            station_id="",
            kind="CdrNotInvoiced",
            payload={"cdr_id": cdr_id, "account_id": account.id, "period": period},
            note=why,
        )
    if not draft.cdr_count:
        return None, False, len(draft.skipped)
    year = issued_at.astimezone(ZoneInfo(account.time_zone)).year
    seq = await invoices.next_number(session, account.operator, "invoice", year)
    row = Invoice(
        kind="invoice",
        number=invoices.format_number(account.operator, "invoice", year, seq),
        operator=account.operator,
        year=year,
        seq=seq,
        account_id=account.id,
        period=period,
        period_start=start,
        period_end=end,
        issued_at=issued_at,
        due_at=issued_at + timedelta(days=account.payment_terms_days),
        currency=draft.currency,
        total_excl_vat=draft.total_excl_vat,
        total_vat=draft.total_vat,
        total_incl_vat=draft.total_incl_vat,
        vat_breakdown=draft.vat_breakdown,
        lines=draft.lines,
        account={**account_snapshot(account), "time_zone": account.time_zone},
        cdr_count=draft.cdr_count,
        payment_status="open" if draft.total_incl_vat > 0 else "none",
    )
    session.add(row)
    await session.flush()
    await invoices.add_items(session, row.id, draft.items)
    return row, True, len(draft.skipped)


class InvoicingActivities:
    """Invoicing activities bound to a database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn(name="issue_invoice")
    async def issue_invoice(self, request: IssueRequest) -> InvoiceSummary:
        """Issue the account's invoice for the period (idempotent: a re-run returns the
        invoice issued before, and no CDR is ever billed twice: the database refuses)."""
        async with self._db.sessions.begin() as session:
            account = await accounts.get_account(session, request.account_id)
            if account is None:
                raise ApplicationError(
                    f"account {request.account_id} does not exist",
                    type="UnknownAccount",
                    non_retryable=True,
                )
            row, now, skipped = await issue(session, account, request.period, request.issued_at)
            if row is None:
                return InvoiceSummary(account.id, request.period, skipped=skipped)
            return InvoiceSummary(
                account.id,
                request.period,
                invoice_id=row.id,
                number=row.number,
                currency=row.currency,
                total_incl_vat=str(round_money(row.total_incl_vat, row.currency)),
                cdr_count=row.cdr_count,
                issued_now=now,
                skipped=skipped,
            )

    @activity.defn(name="render_invoice")
    async def render_invoice(self, invoice_id: int) -> None:
        """Render the invoice's PDF and CSV and keep them (a re-render is identical)."""
        async with self._db.sessions.begin() as session:
            row = await invoices.get_invoice(session, invoice_id)
            if row is None:
                raise ApplicationError(
                    f"invoice {invoice_id} does not exist",
                    type="UnknownInvoice",
                    non_retryable=True,
                )
            document = invoice_document(row)
            pdf = await asyncio.to_thread(invoice_pdf, document)
            await invoices.store_documents(
                session, invoice_id, {"pdf": pdf, "csv": invoice_csv(document).encode()}
            )

    @activity.defn(name="accounts_to_invoice")
    async def accounts_to_invoice(self, page: AccountsPage) -> list[str]:
        """Open accounts whose periods end in ``time_zone``, by id, after ``after``."""
        async with self._db.sessions() as session:
            rows = await session.scalars(
                select(BillingAccount.id)
                .where(
                    BillingAccount.time_zone == page.time_zone,
                    BillingAccount.closed_at.is_(None),
                    BillingAccount.id > page.after,
                )
                .order_by(BillingAccount.id)
                .limit(page.limit)
            )
            return list(rows)


class CreditError(ValueError):
    """A credit note that cannot be issued, with the reason."""


async def credit_cdr(
    session: AsyncSession,
    cdr_id: int,
    *,
    reason: str,
    excl_vat: Decimal | None = None,
    issued_at: datetime,
) -> Invoice:
    """A credit note giving back all of a CDR (or ``excl_vat`` of it, its VAT in
    proportion), numbered in the credit-note series; refuses to give back more than
    the CDR cost. Amounts on a credit note are negative: what the customer is owed.
    """
    cdr = await cdrs.get_cdr(session, cdr_id)
    if cdr is None:
        raise CreditError(f"CDR {cdr_id} does not exist")
    if cdr.account_id is None:
        raise CreditError(f"CDR {cdr_id} belongs to no billing account")
    account = await accounts.get_account(session, cdr.account_id)
    assert account is not None
    total_excl = cdr.total_excl_vat if cdr.total_excl_vat is not None else cdr.total_cost
    total_vat = cdr.total_vat if cdr.total_vat is not None else Decimal(0)
    done_excl, done_vat = await invoices.credited(session, cdr_id)
    left_excl, left_vat = total_excl - done_excl, total_vat - done_vat
    amount = left_excl if excl_vat is None else round_money(excl_vat, cdr.currency)
    if amount <= 0:
        raise CreditError("a credit note gives back a positive amount")
    if amount > left_excl:
        raise CreditError(
            f"CDR {cdr_id} has {left_excl} {cdr.currency} excl. VAT left to credit, not {amount}"
        )
    vat = (
        left_vat
        if amount == left_excl
        else (
            round_money(amount * total_vat / total_excl, cdr.currency) if total_excl else Decimal(0)
        )
    )
    billed = await invoices.billed_on(session, cdr_id)
    year = issued_at.astimezone(ZoneInfo(account.time_zone)).year
    seq = await invoices.next_number(session, account.operator, "credit_note", year)
    snapshot = {**account_snapshot(account), "time_zone": account.time_zone}
    if billed is not None:
        snapshot["corrects_number"] = billed.number
    rate = str((vat * 100 / amount).quantize(Decimal("0.1"))) if amount else "0"
    row = Invoice(
        kind="credit_note",
        number=invoices.format_number(account.operator, "credit_note", year, seq),
        operator=account.operator,
        year=year,
        seq=seq,
        account_id=account.id,
        issued_at=issued_at,
        due_at=issued_at,
        currency=cdr.currency,
        total_excl_vat=-amount,
        total_vat=-vat,
        total_incl_vat=-(amount + vat),
        vat_breakdown=[{"rate": rate, "excl_vat": str(-amount), "vat": str(-vat)}],
        lines=[
            {
                "group": "cdr",
                "key": str(cdr_id),
                "cdr_id": cdr_id,
                "reason": reason,
                "sessions": 1,
                "energy_kwh": "",
                "excl_vat": str(-amount),
                "vat": str(-vat),
                "incl_vat": str(-(amount + vat)),
            }
        ],
        account=snapshot,
        cdr_count=1,
        corrects_id=billed.id if billed is not None else None,
        reason=reason,
        payment_status="open",
    )
    session.add(row)
    await session.flush()
    await invoices.add_items(session, row.id, [(cdr_id, amount, vat)], credit=True)
    return row
