"""Invoices on each backend: a period's CDRs billed once, late CDRs on the next invoice,
gap-free numbers under concurrent runs, credit notes, documents that match the
database, and the prepaid balance."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError

from activities.billing.invoice_documents import invoice_pdf
from activities.billing.tariffs import parse_tariff
from activities.invoicing import (
    CreditError,
    InvoicingActivities,
    IssueBatch,
    IssueRequest,
    credit_cdr,
    debit_cdr,
    invoice_document,
)
from activities.payments import PaymentActivities, balance_of, top_up
from activities.persistence.database import Database
from activities.persistence.models import (
    BillingAccount,
    ChargeDetailRecordRow,
    IdToken,
    Invoice,
    InvoiceItem,
    Station,
)
from activities.persistence.repositories import invoices, tariffs
from activities.sessions import SessionActivities, SettleRequest
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction
from workflows.domain import SessionStopped

ZONE = "Europe/Amsterdam"
NOV = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
ISSUED = datetime(2026, 11, 30, 23, 5, tzinfo=UTC)  # 1 December 00:05 in Amsterdam


async def _account(
    db: Database, operator: str, *, grouping: str = "token", provider: str = "invoice"
) -> tuple[str, list[str], str]:
    """An account with two tokens and a site with a 21 % VAT tariff at 0.40/kWh."""
    account_id, site, station = unique("acct"), unique("site"), unique("CP")
    tokens = [unique("TAG")[:20], unique("TAG")[:20]]
    await seed_station(db, station, site_id=site)
    async with db.sessions.begin() as session:
        session.add(
            BillingAccount(
                id=account_id,
                name="Depot BV",
                kind="fleet",
                customer_group="fleet",
                operator=operator,
                address={"line1": "Kade 1", "city": "Utrecht", "country": "NL"},
                currency="EUR",
                payment_terms_days=14,
                grouping=grouping,
                language="nl",
                time_zone=ZONE,
                payment_provider=provider,
                credit_limit=Decimal(0),
            )
        )
        await session.flush()
        for token in tokens:
            session.add(IdToken(id_token=token, status="accepted", account_id=account_id))
        row = await tariffs.add_version(
            session,
            parse_tariff(
                {
                    "id": unique("T"),
                    "currency": "EUR",
                    "elements": [
                        {
                            "price_components": [
                                {"type": "ENERGY", "price": "0.40", "vat": 21, "step_size": 1},
                                {"type": "FLAT", "price": "0.50", "vat": 21, "step_size": 1},
                            ]
                        }
                    ],
                }
            ),
        )
        row.created_at = NOV - timedelta(days=30)
        await tariffs.assign(session, row.tariff_id, site)
    return account_id, tokens, station


async def _session(
    db: Database, station: str, token: str, at: datetime, kwh: int, connector: int = 1
) -> int:
    """A settled session (CDR id): ``kwh`` kWh at 0.40 plus 0.50, VAT 21 %."""
    async with db.sessions() as session:
        found = await session.get(Station, station)
        assert found is not None
        site = found.site_id
    start = await seed_transaction(
        db,
        station,
        site_id=site,
        meter_start_wh=0,
        started_at=at,
        connector_id=connector,
        id_token=token,
    )
    stop = SessionStopped(start.transaction_id, kwh * 1000, at + timedelta(hours=1))
    await SessionActivities(db).settle_session(SettleRequest(start=start, stop=stop))
    async with db.sessions() as session:
        cdr_id = await session.scalar(
            select(ChargeDetailRecordRow.id).where(
                ChargeDetailRecordRow.transaction_pk == start.transaction_pk
            )
        )
    assert cdr_id is not None
    return cdr_id


async def test_a_period_is_invoiced_once_and_a_late_cdr_goes_on_the_next(db: Database) -> None:
    operator = unique("op")
    account_id, (card_a, card_b), station = await _account(db, operator)
    await _session(db, station, card_a, NOV, 10)  # 4.50 + 0.945 VAT
    await _session(db, station, card_a, NOV + timedelta(days=1), 20, connector=2)  # 8.50
    await _session(db, station, card_b, NOV + timedelta(days=2), 5)  # 2.50
    await _session(db, station, card_b, datetime(2026, 12, 3, tzinfo=UTC), 5)  # December's
    run = InvoicingActivities(db)

    first = await run.issue_invoice(IssueRequest(account_id, "2026-11", ISSUED))
    assert first.issued_now and first.cdr_count == 3
    assert first.number == f"{operator.upper()}-2026-000001"
    again = await run.issue_invoice(IssueRequest(account_id, "2026-11", ISSUED + timedelta(1)))
    assert (again.invoice_id, again.issued_now, again.number) == (
        first.invoice_id,
        False,
        first.number,
    )
    async with db.sessions() as session:
        invoice = await invoices.get_invoice(session, first.invoice_id or 0)
        assert invoice is not None
        # Grouped per card: card A's two sessions on one line.
        assert [(line["key"], line["sessions"]) for line in invoice.lines] == [
            (card_a, 2),
            (card_b, 1),
        ]
        assert invoice.total_excl_vat == Decimal("15.50")
        # Each CDR rounded on its own (0.95 + 1.79 + 0.53), not 21 % of 15.50 (3.26).
        assert invoice.total_vat == Decimal("3.27")
        cdr_vat = await session.scalars(
            select(ChargeDetailRecordRow.total_vat).where(
                ChargeDetailRecordRow.account_id == account_id,
                ChargeDetailRecordRow.stopped_at < datetime(2026, 12, 1, tzinfo=UTC),
            )
        )
        assert invoice.total_vat == sum((v or Decimal(0) for v in cdr_vat), Decimal(0))
        assert invoice.total_incl_vat == invoice.total_excl_vat + invoice.total_vat
        assert [row["rate"] for row in invoice.vat_breakdown] == ["21"]
        assert (invoice.due_at - invoice.issued_at).days == 14

    # A November session whose CDR arrives after November was invoiced.
    late = await _session(db, station, card_a, NOV + timedelta(days=19), 1)
    december = await run.issue_invoice(
        IssueRequest(account_id, "2026-12", datetime(2026, 12, 31, 23, 5, tzinfo=UTC))
    )
    # Issued on 1 January local time: the first number of 2027's series.
    assert december.cdr_count == 2 and december.number == f"{operator.upper()}-2027-000001"
    async with db.sessions() as session:
        billed = await invoices.billed_on(session, late)
        assert billed is not None and billed.id == december.invoice_id
        count = len(
            (
                await session.scalars(
                    select(InvoiceItem).where(
                        InvoiceItem.invoice_id.in_([first.invoice_id, december.invoice_id])
                    )
                )
            ).all()
        )
    assert count == 5  # every CDR once


async def test_nothing_to_bill_takes_no_number(db: Database) -> None:
    operator = unique("op")
    account_id, _, _ = await _account(db, operator)
    summary = await InvoicingActivities(db).issue_invoice(
        IssueRequest(account_id, "2026-11", ISSUED)
    )
    assert summary.invoice_id is None and summary.cdr_count == 0
    async with db.sessions() as session:
        assert await invoices.find_invoice(session, account_id, "2026-11") is None


async def test_numbers_are_gap_free_under_concurrent_runs(db: Database) -> None:
    """Twelve accounts of one operator invoiced at once, one run failing after it took a
    number: the numbers are 1..12, each once."""
    operator = unique("op")
    accounts = []
    for _ in range(12):
        account_id, (card, _), station = await _account(db, operator)
        await _session(db, station, card, NOV, 3)
        accounts.append(account_id)
    run = InvoicingActivities(db)

    async def failing() -> None:
        async with db.sessions.begin() as session:
            await invoices.next_number(session, operator, "invoice", 2026)
            raise RuntimeError("crash after taking a number")

    results = await asyncio.gather(
        failing(),
        *(run.issue_invoice(IssueRequest(a, "2026-11", ISSUED)) for a in accounts),
        return_exceptions=True,
    )
    assert isinstance(results[0], RuntimeError)
    numbers = sorted(
        str(r.number) for r in results[1:] if r is not None and not isinstance(r, BaseException)
    )
    assert len(numbers) == 12
    assert numbers == [f"{operator.upper()}-2026-{n:06d}" for n in range(1, 13)]


async def _broken_cdr(db: Database, account_id: str, station: str) -> int:
    """A CDR of the account whose cost lines do not add up to its totals (as no
    settlement writes one): its account cannot be invoiced."""
    start = await seed_transaction(db, station, site_id=None, meter_start_wh=0, started_at=NOV)
    async with db.sessions.begin() as session:
        row = ChargeDetailRecordRow(
            transaction_pk=start.transaction_pk,
            transaction_ref=start.transaction_id,
            station_id=station,
            site_id=None,
            connector_id=1,
            started_at=NOV,
            stopped_at=NOV + timedelta(hours=1),
            energy_wh=10_000,
            price_per_kwh=Decimal("0.40"),
            currency="EUR",
            total_cost=Decimal("5.45"),
            total_excl_vat=Decimal("4.50"),
            total_vat=Decimal("0.95"),
            # The shape settlement writes (the API serves it), the amounts one line short.
            cost_lines=[
                {
                    "dimension": "ENERGY",
                    "category": "ENERGY",
                    "element": 0,
                    "quantity": "10",
                    "unit": "kWh",
                    "unit_price": "0.40",
                    "vat_rate": "21",
                    "excl_vat": "4.00",
                    "vat": "0.84",
                    "incl_vat": "4.84",
                }
            ],
            account_id=account_id,
            notes=[],
        )
        session.add(row)
        await session.flush()
        return row.id


async def test_a_page_of_accounts_is_issued_together_and_numbered_in_account_order(
    db: Database,
) -> None:
    """What a scheduled run does first: a page of accounts issued in one transaction,
    the numbers one block in account order; an account whose CDRs do not add up is
    left out with the reason, the others are issued, and each account's own
    workflow then finds its invoice."""
    operator = unique("op")
    good = []
    for kwh in (3, 5, 8):
        account_id, (card, _), station = await _account(db, operator)
        await _session(db, station, card, NOV, kwh)
        good.append(account_id)
    broken, _, station = await _account(db, operator)
    await _broken_cdr(db, broken, station)
    idle, _, _ = await _account(db, operator)  # nothing to bill
    run = InvoicingActivities(db)
    page = [good[2], broken, idle, good[0], "no-such-account", good[1]]
    summaries = await run.issue_invoices(IssueBatch(page, "2026-11", ISSUED))
    by_account = {summary.account_id: summary for summary in summaries}
    assert "no-such-account" not in by_account and len(summaries) == 5
    assert by_account[broken].invoice_id is None
    assert "do not add up" in str(by_account[broken].error)
    assert by_account[idle].invoice_id is None and by_account[idle].error is None
    numbers = [by_account[a].number for a in sorted(good)]
    assert numbers == [f"{operator.upper()}-2026-{n:06d}" for n in (1, 2, 3)]
    assert [by_account[a].total_incl_vat for a in good] == ["2.06", "3.03", "4.48"]
    assert all(by_account[a].issued_now for a in good)
    # Each account's own workflow: its invoice, found; the broken one fails for good.
    again = await run.issue_invoice(IssueRequest(good[1], "2026-11", ISSUED))
    assert again.invoice_id == by_account[good[1]].invoice_id and not again.issued_now
    with pytest.raises(ApplicationError) as failed:
        await run.issue_invoice(IssueRequest(broken, "2026-11", ISSUED))
    assert failed.value.non_retryable and failed.value.type == "CdrsNotInvoiceable"
    # The page again (a retried activity): nothing new, no number taken.
    repeat = await run.issue_invoices(IssueBatch(page, "2026-11", ISSUED))
    assert [s.invoice_id for s in repeat] == [s.invoice_id for s in summaries]
    assert not any(s.issued_now for s in repeat)
    async with db.sessions() as session:
        assert await invoices.next_number(session, operator, "invoice", 2026) == 4
        billed = await session.scalar(
            select(func.count())
            .select_from(InvoiceItem)
            .join(Invoice, Invoice.id == InvoiceItem.invoice_id)
            .where(Invoice.operator == operator)
        )
    assert billed == 3


async def test_a_page_is_rendered_once(db: Database) -> None:
    operator = unique("op")
    issued = []
    for grouping in ("session", "station", "token"):
        account_id, (card, other), station = await _account(db, operator, grouping=grouping)
        await _session(db, station, card, NOV, 4)
        await _session(db, station, other, NOV + timedelta(days=1), 6, connector=2)
        issued.append(account_id)
    run = InvoicingActivities(db)
    summaries = await run.issue_invoices(IssueBatch(issued, "2026-11", ISSUED))
    ids = [s.invoice_id for s in summaries if s.invoice_id is not None]
    assert len(ids) == 3
    assert await run.render_invoices(ids) == 3
    async with db.sessions() as session:
        first = {i: await invoices.document(session, i, "pdf") for i in ids}
    assert await run.render_invoices(ids) == 0
    await run.render_invoice(ids[0])  # the account's own workflow: nothing left to do
    async with db.sessions() as session:
        for invoice_id, pdf in first.items():
            kept = await invoices.document(session, invoice_id, "pdf")
            assert pdf is not None and kept is not None
            assert kept.sha256 == pdf.sha256 and kept.created_at == pdf.created_at
            sheet = await invoices.document(session, invoice_id, "csv")
            assert sheet is not None
            text = PdfReader(io.BytesIO(kept.content)).pages[0].extract_text()
            invoice = await invoices.get_invoice(session, invoice_id)
            assert invoice is not None and f"EUR {invoice.total_incl_vat:.2f}" in text
    with pytest.raises(ApplicationError):
        await run.render_invoice(10**9)


async def test_pages_issued_at_once_keep_one_gap_free_series(db: Database) -> None:
    """Three pages of one operator issued concurrently (as three workers would) and a
    transaction that fails after taking a block: the numbers are 1..9, each once,
    each page's in account order."""
    operator = unique("op")
    accounts = []
    for _ in range(9):
        account_id, (card, _), station = await _account(db, operator)
        await _session(db, station, card, NOV, 2)
        accounts.append(account_id)
    run = InvoicingActivities(db)

    async def failing() -> None:
        async with db.sessions.begin() as session:
            await invoices.next_numbers(session, operator, "invoice", 2026, 5)
            raise RuntimeError("crash after taking a block")

    pages = [sorted(accounts[k::3]) for k in range(3)]
    results = await asyncio.gather(
        failing(),
        *(run.issue_invoices(IssueBatch(page, "2026-11", ISSUED)) for page in pages),
        return_exceptions=True,
    )
    assert isinstance(results[0], RuntimeError)
    numbered: list[str] = []
    for page in results[1:]:
        assert isinstance(page, list)
        seqs = [int(str(s.number).rsplit("-", 1)[1]) for s in page]
        assert seqs == list(range(seqs[0], seqs[0] + 3))  # a block, in account order
        numbered += [str(s.number) for s in page]
    assert sorted(numbered) == [f"{operator.upper()}-2026-{n:06d}" for n in range(1, 10)]


async def test_the_pdf_and_the_csv_show_what_the_database_holds(db: Database) -> None:
    operator = unique("op")
    account_id, (card_a, card_b), station = await _account(db, operator, grouping="session")
    for day, (card, kwh) in enumerate([(card_a, 7), (card_b, 13), (card_a, 2)]):
        await _session(db, station, card, NOV + timedelta(days=day), kwh, connector=day + 1)
    run = InvoicingActivities(db)
    summary = await run.issue_invoice(IssueRequest(account_id, "2026-11", ISSUED))
    assert summary.invoice_id is not None
    await run.render_invoice(summary.invoice_id)
    async with db.sessions() as session:
        invoice = await invoices.get_invoice(session, summary.invoice_id)
        pdf = await invoices.document(session, summary.invoice_id, "pdf")
        sheet = await invoices.document(session, summary.invoice_id, "csv")
    assert invoice is not None and pdf is not None and sheet is not None
    rows = list(csv.DictReader(io.StringIO(sheet.content.decode())))
    assert len(rows) == 3 and {r["invoice_number"] for r in rows} == {invoice.number}
    assert sum(Decimal(r["incl_vat"]) for r in rows) == invoice.total_incl_vat
    assert sum(Decimal(r["excl_vat"]) for r in rows) == invoice.total_excl_vat
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert f"Factuur {invoice.number}" in text  # the account's language
    assert f"Totaal incl. btw EUR {invoice.total_incl_vat:.2f}" in text
    assert f"Totaal excl. btw EUR {invoice.total_excl_vat:.2f}" in text
    for row in rows:
        assert row["incl_vat"] in text


async def test_credit_notes_correct_cdrs_in_their_own_series(db: Database) -> None:
    operator = unique("op")
    account_id, (card, _), station = await _account(db, operator)
    cdr_id = await _session(db, station, card, NOV, 10)  # 4.50 excl, 0.95 VAT
    run = InvoicingActivities(db)
    invoice = await run.issue_invoice(IssueRequest(account_id, "2026-11", ISSUED))
    async with db.sessions.begin() as session:
        part = await credit_cdr(
            session, cdr_id, reason="meter fault", excl_vat=Decimal("1.00"), issued_at=ISSUED
        )
        assert part.number == f"{operator.upper()}-CN-2026-000001"
        assert (part.total_excl_vat, part.total_vat) == (Decimal("-1.00"), Decimal("-0.21"))
        assert part.corrects_id == invoice.invoice_id
    async with db.sessions.begin() as session:
        rest = await credit_cdr(session, cdr_id, reason="goodwill", issued_at=ISSUED)
        assert rest.number == f"{operator.upper()}-CN-2026-000002"
        assert rest.total_excl_vat == Decimal("-3.50")
    with pytest.raises(CreditError, match="left to credit"):
        async with db.sessions.begin() as session:
            await credit_cdr(
                session, cdr_id, reason="again", excl_vat=Decimal("0.01"), issued_at=ISSUED
            )
    async with db.sessions() as session:
        credits = (
            await session.scalars(
                select(Invoice).where(
                    Invoice.account_id == account_id, Invoice.kind == "credit_note"
                )
            )
        ).all()
        cdr = await session.get(ChargeDetailRecordRow, cdr_id)
    assert cdr is not None and cdr.total_vat is not None
    # Both together give back exactly what the CDR cost; the CDR itself is unchanged.
    assert -sum(c.total_incl_vat for c in credits) == cdr.total_cost
    assert len(credits) == 2


async def test_debit_notes_charge_more_in_their_own_series_and_can_be_credited(
    db: Database,
) -> None:
    """A session billed too low gets a debit note (the CDR never changes): numbered in
    its own series, VAT at the CDR's rate, due like an invoice, its PDF saying so;
    what it added can be given back by a credit note, and no more."""
    operator = unique("op")
    account_id, (card, _), station = await _account(db, operator)
    cdr_id = await _session(db, station, card, NOV, 10)  # 4.50 excl, 0.95 VAT
    invoice = await InvoicingActivities(db).issue_invoice(
        IssueRequest(account_id, "2026-11", ISSUED)
    )
    async with db.sessions.begin() as session:
        debit = await debit_cdr(
            session, cdr_id, reason="parking not billed", excl_vat=Decimal("2.00"), issued_at=ISSUED
        )
        assert debit.number == f"{operator.upper()}-DN-2026-000001"
        # 0.95 / 4.50 of 2.00 = 0.4222...: 0.42.
        assert (debit.total_excl_vat, debit.total_vat) == (Decimal("2.00"), Decimal("0.42"))
        assert debit.corrects_id == invoice.invoice_id and debit.payment_status == "open"
        assert debit.due_at == ISSUED + timedelta(days=14)
        document = invoice_document(debit)
    text = PdfReader(io.BytesIO(invoice_pdf(document))).pages[0].extract_text()
    assert f"Debetnota {debit.number}" in text and "EUR 2.42" in text
    for bad, why in ((Decimal("0"), "positive"), (Decimal("1.005"), "decimals")):
        with pytest.raises(CreditError, match=why):
            async with db.sessions.begin() as session:
                await debit_cdr(session, cdr_id, reason="x", excl_vat=bad, issued_at=ISSUED)
    # A credit note may now give back the CDR and the debit: 6.50 excl. VAT, no more.
    async with db.sessions.begin() as session:
        back = await credit_cdr(session, cdr_id, reason="goodwill", issued_at=ISSUED)
    assert (back.total_excl_vat, back.total_vat) == (Decimal("-6.50"), Decimal("-1.37"))
    assert back.number == f"{operator.upper()}-CN-2026-000001"
    with pytest.raises(CreditError, match="left to credit"):
        async with db.sessions.begin() as session:
            await credit_cdr(
                session, cdr_id, reason="again", excl_vat=Decimal("0.01"), issued_at=ISSUED
            )


async def test_a_prepaid_balance_pays_and_never_goes_below_the_credit_limit(
    db: Database,
) -> None:
    operator = unique("op")
    account_id, (card, _), station = await _account(db, operator, provider="balance")
    await _session(db, station, card, NOV, 10)  # 5.45 incl. VAT
    await _session(db, station, card, datetime(2026, 12, 5, tzinfo=UTC), 10)
    run, pay = InvoicingActivities(db), PaymentActivities(db)
    async with db.sessions.begin() as session:
        account = await session.get(BillingAccount, account_id)
        assert account is not None
        await top_up(session, account, Decimal("6.00"), "bank 123")
    november = await run.issue_invoice(IssueRequest(account_id, "2026-11", ISSUED))
    assert november.invoice_id is not None
    paid = await pay.collect_invoice(november.invoice_id)
    assert (paid.provider, paid.status) == ("balance", "paid")
    assert (await pay.collect_invoice(november.invoice_id)).status == "paid"  # once
    december = await run.issue_invoice(
        IssueRequest(account_id, "2026-12", datetime(2026, 12, 31, 23, 5, tzinfo=UTC))
    )
    assert december.invoice_id is not None
    refused = await pay.collect_invoice(december.invoice_id)
    assert refused.status == "failed" and "do not cover" in (refused.reason or "")
    async with db.sessions() as session:
        assert await balance_of(session, account_id) == Decimal("0.55")
    async with db.sessions.begin() as session:
        account = await session.get(BillingAccount, account_id)
        assert account is not None
        account.credit_limit = Decimal("10")
    assert (await pay.collect_invoice(december.invoice_id)).status == "paid"
    async with db.sessions() as session:
        assert await balance_of(session, account_id) == Decimal("-4.90")
