"""Invoices, credit and debit notes, payments: read, download, run a period, correct,
pay."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from activities.billing.currencies import round_money
from activities.billing.invoice_documents import invoice_csv, invoice_pdf
from activities.invoicing import CreditError, credit_cdr, debit_cdr, invoice_document
from activities.payments import balance_of, top_up
from activities.persistence.models import BalanceEntry, Invoice, utcnow
from activities.persistence.repositories import accounts, invoices
from api.auth import Operator, Viewer
from api.commands import temporal_client, temporal_unavailable
from api.deps import IdInPath, Session
from api.errors import not_found, unprocessable
from api.routers.accounts import AccountId
from workflows.invoicing import InvoicingRequest, InvoicingWorkflow, invoicing_workflow_id

router = APIRouter(tags=["invoices"])

Period = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class InvoiceOut(BaseModel):
    """An invoice, a credit note (its amounts negative) or a debit note."""

    id: int
    kind: str
    number: str
    account_id: str
    period: str | None
    issued_at: datetime
    due_at: datetime
    currency: str
    total_excl_vat: Decimal
    total_vat: Decimal
    total_incl_vat: Decimal
    vat_breakdown: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    cdr_count: int
    corrects_id: int | None
    reason: str | None
    payment_status: str
    paid_at: datetime | None
    payment_reference: str | None

    @classmethod
    def of(cls, row: Invoice) -> InvoiceOut:
        """The answer for a stored invoice (money in the currency's minor unit)."""
        return cls(
            id=row.id,
            kind=row.kind,
            number=row.number,
            account_id=row.account_id,
            period=row.period,
            issued_at=row.issued_at,
            due_at=row.due_at,
            currency=row.currency,
            total_excl_vat=round_money(row.total_excl_vat, row.currency),
            total_vat=round_money(row.total_vat, row.currency),
            total_incl_vat=round_money(row.total_incl_vat, row.currency),
            vat_breakdown=row.vat_breakdown,
            lines=row.lines,
            cdr_count=row.cdr_count,
            corrects_id=row.corrects_id,
            reason=row.reason,
            payment_status=row.payment_status,
            paid_at=row.paid_at,
            payment_reference=row.payment_reference,
        )


async def _get(session: Session, invoice_id: int) -> Invoice:
    row = await invoices.get_invoice(session, invoice_id)
    if row is None:
        raise not_found("invoice", invoice_id)
    return row


@router.get("/invoices")
async def list_invoices(
    session: Session,
    _: Viewer,
    account_id: Annotated[str | None, Query(min_length=1, max_length=48)] = None,
    kind: Literal["invoice", "credit_note", "debit_note"] | None = None,
    period: Period | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=2**63 - 1),
) -> list[InvoiceOut]:
    """Invoices and credit notes, newest first."""
    rows = await invoices.list_invoices(
        session, account_id=account_id, kind=kind, period=period, limit=limit, offset=offset
    )
    return [InvoiceOut.of(row) for row in rows]


@router.get("/invoices/{invoice_id}")
async def get_invoice(invoice_id: IdInPath, session: Session, _: Viewer) -> InvoiceOut:
    """One invoice or credit note, with its lines and VAT breakdown."""
    return InvoiceOut.of(await _get(session, invoice_id))


@router.get(
    "/invoices/{invoice_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the invoice"}},
)
async def invoice_pdf_file(invoice_id: IdInPath, session: Session, _: Viewer) -> Response:
    """The invoice as issued, as PDF (rendered by its workflow, or now if not yet)."""
    return await _document(session, invoice_id, "pdf", "application/pdf")


@router.get(
    "/invoices/{invoice_id}/csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "its lines"}},
)
async def invoice_csv_file(invoice_id: IdInPath, session: Session, _: Viewer) -> Response:
    """The invoice's lines as CSV: the amounts of the PDF and the database."""
    return await _document(session, invoice_id, "csv", "text/csv")


async def _document(session: Session, invoice_id: int, fmt: str, media: str) -> Response:
    row = await _get(session, invoice_id)
    stored = await invoices.document(session, invoice_id, fmt)
    if stored is not None:
        content = stored.content
    elif fmt == "pdf":
        content = await asyncio.to_thread(invoice_pdf, invoice_document(row))
    else:
        content = invoice_csv(invoice_document(row)).encode()
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{row.number}.{fmt}"'},
    )


class RunIn(BaseModel):
    """An account's period to invoice now (a re-run returns the invoice issued)."""

    account_id: Annotated[str, StringConstraints(min_length=1, max_length=48)]
    period: Period


class RunOut(BaseModel):
    """The invoicing workflow that runs it."""

    workflow_id: str


@router.post("/invoices/runs", status_code=status.HTTP_202_ACCEPTED)
async def run_invoicing(body: RunIn, request: Request, session: Session, _: Operator) -> RunOut:
    """Start (or join) the ``Invoicing`` workflow of one account and period."""
    if await accounts.get_account(session, body.account_id) is None:
        raise not_found("account", body.account_id)
    workflow_id = invoicing_workflow_id(body.account_id, body.period)
    client = await temporal_client(request.app.state.temporal)
    try:
        await client.start_workflow(
            InvoicingWorkflow.run,
            InvoicingRequest(body.account_id, body.period),
            id=workflow_id,
            task_queue=request.app.state.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except RPCError as exc:
        raise temporal_unavailable(exc) from None
    return RunOut(workflow_id=workflow_id)


class CreditIn(BaseModel):
    """A correction of one CDR."""

    cdr_id: int = Field(ge=1, le=2**63 - 1)
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    excl_vat: Decimal | None = Field(
        None, gt=0, max_digits=12, decimal_places=4, description="omit to credit all that is left"
    )


@router.post("/credit-notes", status_code=status.HTTP_201_CREATED)
async def create_credit_note(body: CreditIn, session: Session, _: Operator) -> InvoiceOut:
    """Issue a credit note for a CDR (numbered in its own series); 422 when it would
    give back more than the CDR cost."""
    return await _issued_note(
        session,
        credit_cdr(
            session, body.cdr_id, reason=body.reason, excl_vat=body.excl_vat, issued_at=utcnow()
        ),
    )


class DebitIn(BaseModel):
    """A charge on top of one CDR (a session billed too low)."""

    cdr_id: int = Field(ge=1, le=2**63 - 1)
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    excl_vat: Decimal = Field(
        gt=0, max_digits=12, decimal_places=4, description="charged on top, excl. VAT"
    )


@router.post("/debit-notes", status_code=status.HTTP_201_CREATED)
async def create_debit_note(body: DebitIn, session: Session, _: Operator) -> InvoiceOut:
    """Issue a debit note for a CDR (numbered in its own series, VAT at the CDR's
    rate, payable like an invoice); 422 when it cannot be issued."""
    return await _issued_note(
        session,
        debit_cdr(
            session, body.cdr_id, reason=body.reason, excl_vat=body.excl_vat, issued_at=utcnow()
        ),
    )


async def _issued_note(session: AsyncSession, issuing: Awaitable[Invoice]) -> InvoiceOut:
    """A credit or debit note issued, rendered and committed; 422 with the reason
    when it cannot be issued (nothing is kept)."""
    try:
        row = await issuing
    except CreditError as error:
        await session.rollback()
        raise unprocessable(str(error)) from None
    document = invoice_document(row)
    await invoices.store_documents(
        session,
        row.id,
        {
            "pdf": await asyncio.to_thread(invoice_pdf, document),
            "csv": invoice_csv(document).encode(),
        },
    )
    await session.commit()
    return InvoiceOut.of(row)


class PaymentIn(BaseModel):
    """A payment received for an invoice outside the platform (a bank transfer)."""

    reference: Annotated[str, StringConstraints(min_length=1, max_length=100)]


@router.post("/invoices/{invoice_id}/payments")
async def record_payment(
    invoice_id: IdInPath, body: PaymentIn, session: Session, _: Operator
) -> InvoiceOut:
    """Mark an open invoice paid; 422 if it is not open."""
    row = await _get(session, invoice_id)
    if row.payment_status not in ("open", "failed"):
        raise unprocessable(f"invoice {row.number} is {row.payment_status}", where="path")
    row.payment_status, row.paid_at = "paid", utcnow()
    row.payment_reference = body.reference
    await session.commit()
    return InvoiceOut.of(row)


class TopUpIn(BaseModel):
    """Money added to a prepaid balance."""

    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=4)
    reference: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class BalanceOut(BaseModel):
    """A prepaid balance and its movements, newest first."""

    account_id: str
    currency: str
    balance: Decimal
    credit_limit: Decimal
    entries: list[dict[str, Any]]


async def _balance(session: Session, account_id: str) -> BalanceOut:
    account = await accounts.get_account(session, account_id)
    if account is None:
        raise not_found("account", account_id)
    entries = (
        await session.scalars(
            select(BalanceEntry)
            .where(BalanceEntry.account_id == account_id)
            .order_by(BalanceEntry.id.desc())
            .limit(100)
        )
    ).all()
    return BalanceOut(
        account_id=account_id,
        currency=account.currency,
        balance=round_money(await balance_of(session, account_id), account.currency),
        credit_limit=round_money(account.credit_limit, account.currency),
        entries=[
            {
                "kind": e.kind,
                "amount": str(round_money(e.amount, account.currency)),
                "invoice_id": e.invoice_id,
                "reference": e.reference,
                "at": e.created_at.isoformat(),
            }
            for e in entries
        ],
    )


@router.get("/accounts/{account_id}/balance", tags=["billing accounts"])
async def get_balance(account_id: AccountId, session: Session, _: Viewer) -> BalanceOut:
    """The account's prepaid balance."""
    return await _balance(session, account_id)


@router.post("/accounts/{account_id}/balance/top-ups", tags=["billing accounts"])
async def add_top_up(
    account_id: AccountId, body: TopUpIn, session: Session, _: Operator
) -> BalanceOut:
    """Add to the account's prepaid balance."""
    account = await accounts.get_account(session, account_id)
    if account is None:
        raise not_found("account", account_id)
    amount = round_money(body.amount, account.currency)
    if amount != body.amount:
        raise unprocessable(f"amount: {account.currency} has no more decimals than {amount}")
    await top_up(session, account, amount, body.reference)
    await session.commit()
    return await _balance(session, account_id)
