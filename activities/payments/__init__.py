"""Payments behind one interface: how an issued invoice gets paid.

A provider takes an invoice and says what happened to its payment:

- ``invoice``: paid by bank transfer against the invoice; nothing is collected, the
  invoice stays ``open`` until an operator records the payment;
- ``balance``: debited from the account's prepaid balance (top-ups through the
  API), never below minus the account's credit limit: an invoice the balance
  cannot cover is ``failed`` and nothing is debited;
- ``stripe``: card payments through Stripe (see :mod:`activities.payments.stripe_adapter`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.persistence.database import Database
from activities.persistence.models import BalanceEntry, BillingAccount, Invoice, utcnow
from activities.persistence.repositories.invoices import WITHOUT_CONTENT


@dataclass(frozen=True)
class PaymentOutcome:
    """What a provider did with an invoice."""

    provider: str
    status: str  # open | paid | failed | none
    reference: str | None = None
    reason: str | None = None


class PaymentProvider(Protocol):
    """Collects the payment of one issued invoice (in the caller's transaction)."""

    name: str
    # Whether collecting changes what the account has (a balance), so two
    # collections of one account must take turns (the account row locked).
    locks_account: bool

    async def collect(
        self, session: AsyncSession, account: BillingAccount, invoice: Invoice
    ) -> PaymentOutcome:
        """Collect ``invoice`` (idempotent: a second call reports the first outcome)."""
        ...


class InvoiceProvider:
    """Payment by transfer: nothing to collect now."""

    name = "invoice"
    locks_account = False  # nothing changes: no lock, no write, no commit to flush

    async def collect(
        self, session: AsyncSession, account: BillingAccount, invoice: Invoice
    ) -> PaymentOutcome:
        """The invoice waits for the customer's transfer."""
        return PaymentOutcome(self.name, invoice.payment_status)


async def balance_of(session: AsyncSession, account_id: str) -> Decimal:
    """An account's prepaid balance: the sum of its entries (added here, exactly: SQLite
    would add the decimal text as floats)."""
    amounts = await session.scalars(
        select(BalanceEntry.amount).where(BalanceEntry.account_id == account_id)
    )
    return sum(amounts, Decimal(0))


async def lock_account(session: AsyncSession, account_id: str) -> BillingAccount | None:
    """The account, locked for the transaction on PostgreSQL: two debits of one
    balance take turns, so both cannot pass the same check."""
    # populate_existing: an account read earlier in the transaction is read again
    # under the lock, not served from the session as it was before it.
    query = (
        select(BillingAccount)
        .where(BillingAccount.id == account_id)
        .execution_options(populate_existing=True)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return await session.scalar(query)


class BalanceProvider:
    """Prepaid: the invoice is debited from the account's balance."""

    name = "balance"
    locks_account = True

    async def collect(
        self, session: AsyncSession, account: BillingAccount, invoice: Invoice
    ) -> PaymentOutcome:
        """Debit the invoice's total if balance and credit limit cover it."""
        if invoice.payment_status in ("paid", "none"):
            return PaymentOutcome(self.name, invoice.payment_status, f"invoice {invoice.number}")
        due = invoice.total_incl_vat
        balance = await balance_of(session, account.id)
        if balance - due < -account.credit_limit:
            invoice.payment_status = "failed"
            return PaymentOutcome(
                self.name,
                "failed",
                reason=(
                    f"balance {balance} {account.currency} and credit limit "
                    f"{account.credit_limit} do not cover {due}"
                ),
            )
        session.add(
            BalanceEntry(
                account_id=account.id,
                kind="debit",
                amount=-due,
                currency=invoice.currency,
                invoice_id=invoice.id,
                reference=invoice.number,
            )
        )
        invoice.payment_status, invoice.paid_at = "paid", utcnow()
        invoice.payment_reference = f"balance {invoice.number}"
        return PaymentOutcome(self.name, "paid", invoice.number)


async def top_up(
    session: AsyncSession, account: BillingAccount, amount: Decimal, reference: str | None
) -> BalanceEntry:
    """Add to an account's prepaid balance."""
    if amount <= 0:
        raise ValueError("a top-up is a positive amount")
    entry = BalanceEntry(
        account_id=account.id,
        kind="topup",
        amount=amount,
        currency=account.currency,
        reference=reference,
    )
    session.add(entry)
    await session.flush()
    return entry


PROVIDERS: dict[str, PaymentProvider] = {
    "invoice": InvoiceProvider(),
    "balance": BalanceProvider(),
}


class PaymentActivities:
    """Payment activities bound to a database."""

    def __init__(self, db: Database, providers: dict[str, PaymentProvider] | None = None) -> None:
        self._db = db
        self._providers = providers or PROVIDERS

    @activity.defn(name="collect_invoice")
    async def collect_invoice(self, invoice_id: int) -> PaymentOutcome:
        """Collect an issued invoice with its account's provider (safe to repeat)."""
        async with self._db.sessions.begin() as session:
            invoice = await session.get(Invoice, invoice_id, options=WITHOUT_CONTENT)
            if invoice is None:
                raise ApplicationError(
                    f"invoice {invoice_id} does not exist",
                    type="UnknownInvoice",
                    non_retryable=True,
                )
            account = await session.get(BillingAccount, invoice.account_id)
            assert account is not None
            provider = self._providers.get(account.payment_provider)
            if provider is None:
                return PaymentOutcome(
                    account.payment_provider,
                    invoice.payment_status,
                    reason=f"provider {account.payment_provider!r} is not configured here",
                )
            if provider.locks_account:
                locked = await lock_account(session, invoice.account_id)
                assert locked is not None
                account = locked
            return await provider.collect(session, account, invoice)
