"""Activities of the invoicing workflows: issue an account's invoice for a period,
render it, collect its payment; list the accounts a scheduled run invoices; and
credit notes, the one way a CDR is corrected."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
from activities.billing.invoices import (
    CdrFacts,
    DraftInvoice,
    DraftRequest,
    InvoiceError,
    draft_invoices,
    period_bounds,
)
from activities.persistence.database import Database
from activities.persistence.models import BillingAccount, ChargeDetailRecordRow, Invoice
from activities.persistence.repositories import accounts, cdrs, invoices, reconciliation
from activities.persistence.repositories.invoices import WITHOUT_CONTENT

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
    # Why it could not be issued (a batch leaves the account to its own workflow).
    error: str | None = None


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
        "due_on": due.date().isoformat() if row.kind in ("invoice", "debit_note") else None,
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


@dataclass(frozen=True)
class Issued:
    """One account's outcome of :func:`issue_many`."""

    account: BillingAccount
    # None: nothing to bill, or ``error`` says why it could not be issued.
    invoice: Invoice | None
    issued_now: bool = False
    skipped: int = 0
    error: str | None = None


async def issue(
    session: AsyncSession, account: BillingAccount, period: str, issued_at: datetime
) -> tuple[Invoice | None, bool, int]:
    """The account's invoice for ``period``, issued now if it was not yet: (invoice,
    issued now, CDRs skipped). None when there is nothing to bill. See
    :func:`issue_many`; an account whose CDRs cannot be invoiced raises
    :class:`InvoiceError`."""
    (outcome,) = await issue_many(session, [account], period, issued_at)
    if outcome.error is not None:
        raise InvoiceError(outcome.error)
    return outcome.invoice, outcome.issued_now, outcome.skipped


async def issue_many(
    session: AsyncSession, accounts: Sequence[BillingAccount], period: str, issued_at: datetime
) -> list[Issued]:
    """Each account's invoice for ``period``, issued now where it was not yet, in the
    caller's transaction; one outcome per account, in the order given.

    An invoice bills every CDR of its account that stopped before the period's end
    (the local midnight of the account's time zone) and is on no invoice yet: the
    period's own, and any that arrived after their period had been invoiced (a late
    CDR goes on the next invoice). The accounts' CDRs are read together, and each
    series' numbers are taken as one block, in account order. An account whose CDRs
    do not add up is left out with the reason (``error``); the others are issued.
    """
    existing = await invoices.find_invoices(session, [account.id for account in accounts], period)
    pending = [account for account in accounts if account.id not in existing]
    by_zone: dict[str, list[str]] = {}
    for account in pending:
        by_zone.setdefault(account.time_zone, []).append(account.id)
    facts: dict[str, list[CdrFacts]] = {}
    for zone, account_ids in by_zone.items():
        _, end = period_bounds(period, zone)
        facts.update(await invoices.uninvoiced_cdrs(session, account_ids, end))
    outcomes: dict[str, Issued] = {
        account.id: Issued(account, existing[account.id])
        for account in accounts
        if account.id in existing
    }
    drafts: dict[str, DraftInvoice] = {}
    drafted = draft_invoices(
        [
            DraftRequest(facts[account.id], account.currency, account.grouping, account.time_zone)
            for account in pending
        ]
    )
    for account, draft in zip(pending, drafted, strict=True):
        if isinstance(draft, InvoiceError):
            outcomes[account.id] = Issued(account, None, error=str(draft))
            continue
        for cdr_id, why in draft.skipped:
            reconciliation.add_item(
                session,
                station_id="",
                kind="CdrNotInvoiced",
                payload={"cdr_id": cdr_id, "account_id": account.id, "period": period},
                note=why,
            )
        outcomes[account.id] = Issued(account, None, skipped=len(draft.skipped))
        if draft.cdr_count:
            drafts[account.id] = draft
    series: dict[tuple[str, int], list[BillingAccount]] = {}
    for account in sorted(pending, key=lambda account: account.id):
        if account.id in drafts:
            year = issued_at.astimezone(ZoneInfo(account.time_zone)).year
            series.setdefault((account.operator, year), []).append(account)
    rows: list[Invoice] = []
    for (operator, year), numbered in sorted(series.items()):
        first = await invoices.next_numbers(session, operator, "invoice", year, len(numbered))
        for offset, account in enumerate(numbered):
            row = _invoice_row(account, drafts[account.id], period, issued_at, year, first + offset)
            rows.append(row)
            outcomes[account.id] = replace(outcomes[account.id], invoice=row, issued_now=True)
    if rows:
        session.add_all(rows)
        await session.flush()
        await invoices.add_items_of(session, {row.id: drafts[row.account_id].items for row in rows})
    return [outcomes[account.id] for account in accounts]


def _invoice_row(
    account: BillingAccount,
    draft: DraftInvoice,
    period: str,
    issued_at: datetime,
    year: int,
    seq: int,
) -> Invoice:
    """The stored invoice of a draft, numbered."""
    start, end = period_bounds(period, account.time_zone)
    return Invoice(
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


@dataclass(frozen=True)
class IssueBatch:
    """Input of :meth:`InvoicingActivities.issue_invoices`."""

    account_ids: list[str]
    period: str
    issued_at: datetime


DOCUMENT_FORMATS = frozenset({"pdf", "csv"})
"""What every invoice is rendered as."""


def render_documents(documents: dict[int, dict[str, Any]]) -> dict[int, dict[str, bytes]]:
    """Each invoice's PDF and CSV, by invoice id (CPU work: run it off the loop)."""
    return {
        invoice_id: {"pdf": invoice_pdf(document), "csv": invoice_csv(document).encode()}
        for invoice_id, document in documents.items()
    }


def _summary(outcome: Issued, period: str) -> InvoiceSummary:
    if outcome.invoice is None:
        return InvoiceSummary(
            outcome.account.id, period, skipped=outcome.skipped, error=outcome.error
        )
    return _invoice_summary(
        outcome.account.id, period, outcome.invoice, outcome.issued_now, outcome.skipped
    )


def _invoice_summary(
    account_id: str, period: str, row: Invoice, issued_now: bool, skipped: int
) -> InvoiceSummary:
    return InvoiceSummary(
        account_id,
        period,
        invoice_id=row.id,
        number=row.number,
        currency=row.currency,
        total_incl_vat=str(round_money(row.total_incl_vat, row.currency)),
        cdr_count=row.cdr_count,
        issued_now=issued_now,
        skipped=skipped,
    )


class InvoicingActivities:
    """Invoicing activities bound to a database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @activity.defn(name="issue_invoice")
    async def issue_invoice(self, request: IssueRequest) -> InvoiceSummary:
        """Issue the account's invoice for the period (idempotent: a re-run returns the
        invoice issued before, and no CDR is ever billed twice: the database refuses)."""
        async with self._db.sessions.begin() as session:
            # A scheduled run has issued most invoices already: one query for those.
            existing = await invoices.find_invoice(
                session, request.account_id, request.period, content=False
            )
            if existing is not None:
                return _invoice_summary(request.account_id, request.period, existing, False, 0)
            account = await accounts.get_account(session, request.account_id)
            if account is None:
                raise ApplicationError(
                    f"account {request.account_id} does not exist",
                    type="UnknownAccount",
                    non_retryable=True,
                )
            try:
                row, now, skipped = await issue(session, account, request.period, request.issued_at)
            except InvoiceError as error:
                # Immutable CDRs that do not add up will not add up on a retry either:
                # the account's workflow fails, visibly, and the run goes on.
                raise ApplicationError(
                    str(error), type="CdrsNotInvoiceable", non_retryable=True
                ) from error
            return _summary(Issued(account, row, now, skipped), request.period)

    @activity.defn(name="issue_invoices")
    async def issue_invoices(self, batch: IssueBatch) -> list[InvoiceSummary]:
        """Issue a page of accounts' invoices for the period in one transaction (what a
        scheduled run does before each account's own workflow, which then finds its
        invoice issued). Unknown accounts are left out; an account whose CDRs cannot
        be invoiced comes back with the reason, for its own workflow to retry."""
        async with self._db.sessions.begin() as session:
            found = await accounts.get_accounts(session, batch.account_ids)
            outcomes = await issue_many(session, found, batch.period, batch.issued_at)
            return [_summary(outcome, batch.period) for outcome in outcomes]

    @activity.defn(name="render_invoice")
    async def render_invoice(self, invoice_id: int) -> None:
        """Render the invoice's PDF and CSV and keep them, unless they are kept already
        (a re-render is identical)."""
        async with self._db.sessions() as session:
            kept = await invoices.rendered(session, [invoice_id])
        if kept.get(invoice_id, set()) >= DOCUMENT_FORMATS:
            return  # rendered with its page by the scheduled run
        if not await self.render_invoices([invoice_id]):
            async with self._db.sessions() as session:
                if await session.get(Invoice, invoice_id, options=WITHOUT_CONTENT) is None:
                    raise ApplicationError(
                        f"invoice {invoice_id} does not exist",
                        type="UnknownInvoice",
                        non_retryable=True,
                    )

    @activity.defn(name="render_invoices")
    async def render_invoices(self, invoice_ids: list[int]) -> int:
        """Render the PDF and CSV of each of these invoices not rendered yet; how many
        it rendered. The rendering holds no database connection."""
        async with self._db.sessions() as session:
            kept = await invoices.rendered(session, invoice_ids)
            missing = [id_ for id_ in invoice_ids if not kept.get(id_, set()) >= DOCUMENT_FORMATS]
            rows = await invoices.get_invoices(session, missing)
            documents = {row.id: invoice_document(row) for row in rows}
        if not documents:
            return 0
        files = await asyncio.to_thread(render_documents, documents)
        async with self._db.sessions.begin() as session:
            await invoices.store_documents_of(session, files)
        return len(files)

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
    """A credit or debit note that cannot be issued, with the reason."""


async def _cdr_and_account(
    session: AsyncSession, cdr_id: int
) -> tuple[ChargeDetailRecordRow, BillingAccount]:
    cdr = await cdrs.get_cdr(session, cdr_id)
    if cdr is None:
        raise CreditError(f"CDR {cdr_id} does not exist")
    if cdr.account_id is None:
        raise CreditError(f"CDR {cdr_id} belongs to no billing account")
    account = await accounts.get_account(session, cdr.account_id)
    assert account is not None
    return cdr, account


def _totals(cdr: ChargeDetailRecordRow) -> tuple[Decimal, Decimal]:
    """A CDR's own totals, excl. VAT and VAT (one written before VAT: none)."""
    total_excl = cdr.total_excl_vat if cdr.total_excl_vat is not None else cdr.total_cost
    return total_excl, cdr.total_vat if cdr.total_vat is not None else Decimal(0)


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
    the CDR cost, with what debit notes added to it. Amounts on a credit note are
    negative: what the customer is owed.
    """
    cdr, account = await _cdr_and_account(session, cdr_id)
    total_excl, total_vat = _totals(cdr)
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
    return await _correction(
        session, cdr, account, "credit_note", -amount, -vat, reason=reason, issued_at=issued_at
    )


async def debit_cdr(
    session: AsyncSession,
    cdr_id: int,
    *,
    reason: str,
    excl_vat: Decimal,
    issued_at: datetime,
) -> Invoice:
    """A debit note charging ``excl_vat`` more for a CDR (a session billed too low),
    its VAT at the CDR's own rate, numbered in the debit-note series and payable like
    an invoice. The CDR itself never changes; a later credit note may give back what
    a debit note added."""
    cdr, account = await _cdr_and_account(session, cdr_id)
    amount = round_money(excl_vat, cdr.currency)
    if amount <= 0 or amount != excl_vat:
        raise CreditError(
            f"a debit note charges a positive amount in {cdr.currency}'s own decimals"
        )
    total_excl, total_vat = _totals(cdr)
    vat = round_money(amount * total_vat / total_excl, cdr.currency) if total_excl else Decimal(0)
    return await _correction(
        session, cdr, account, "debit_note", amount, vat, reason=reason, issued_at=issued_at
    )


async def _correction(
    session: AsyncSession,
    cdr: ChargeDetailRecordRow,
    account: BillingAccount,
    kind: str,
    amount: Decimal,
    vat: Decimal,
    *,
    reason: str,
    issued_at: datetime,
) -> Invoice:
    """A credit note (amounts negative) or debit note (positive) of one CDR, numbered
    in its own series, naming the invoice that billed the CDR, stored with its item
    (the amount given back, or, negative, charged on top: what is left to credit)."""
    billed = await invoices.billed_on(session, cdr.id)
    year = issued_at.astimezone(ZoneInfo(account.time_zone)).year
    seq = await invoices.next_number(session, account.operator, kind, year)
    snapshot = {**account_snapshot(account), "time_zone": account.time_zone}
    if billed is not None:
        snapshot["corrects_number"] = billed.number
    rate = str((vat * 100 / amount).quantize(Decimal("0.1"))) if amount else "0"
    row = Invoice(
        kind=kind,
        number=invoices.format_number(account.operator, kind, year, seq),
        operator=account.operator,
        year=year,
        seq=seq,
        account_id=account.id,
        issued_at=issued_at,
        due_at=issued_at
        + timedelta(days=account.payment_terms_days if kind == "debit_note" else 0),
        currency=cdr.currency,
        total_excl_vat=amount,
        total_vat=vat,
        total_incl_vat=amount + vat,
        vat_breakdown=[{"rate": rate, "excl_vat": str(amount), "vat": str(vat)}],
        lines=[
            {
                "group": "cdr",
                "key": str(cdr.id),
                "cdr_id": cdr.id,
                "reason": reason,
                "sessions": 1,
                "energy_kwh": "",
                "excl_vat": str(amount),
                "vat": str(vat),
                "incl_vat": str(amount + vat),
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
    await invoices.add_items(session, row.id, [(cdr.id, -amount, -vat)], credit=True)
    return row
