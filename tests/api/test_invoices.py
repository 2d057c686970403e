"""Invoices, credit notes and payments through the API on each backend."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from activities.invoicing import InvoicingActivities, IssueRequest
from activities.persistence.database import Database
from activities.sessions import SessionActivities, SettleRequest
from tests.api.conftest import VIEWER, api_client
from tests.api.test_accounts import account
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction
from workflows.domain import SessionStopped


@pytest.fixture
async def http(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(db) as client:
        yield client


async def _invoiced(db: Database, http: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    """An account billed for two sessions last month (at the site's flat 0.50/kWh)."""
    account_id, site, station, token = unique("acct"), unique("site"), unique("CP"), unique("T")
    body = account(account_id, grouping="session", language="en", operator=unique("op"))
    assert (await http.post("/accounts", json=body)).status_code == 201
    await http.post("/sites", json={"id": site, "name": site, "price_per_kwh": "0.50"})
    await seed_station(db, station, site_id=site, tokens={token: "accepted"})
    assert (await http.put(f"/accounts/{account_id}/tokens/{token}")).status_code == 200
    for connector, kwh in ((1, 10), (2, 7)):
        start = await seed_transaction(
            db,
            station,
            site_id=site,
            meter_start_wh=0,
            started_at=datetime(2026, 11, 3, 8, tzinfo=UTC),
            connector_id=connector,
            id_token=token,
        )
        stop = SessionStopped(
            start.transaction_id, kwh * 1000, start.started_at + timedelta(hours=1)
        )
        await SessionActivities(db).settle_session(SettleRequest(start=start, stop=stop))
    run = InvoicingActivities(db)
    summary = await run.issue_invoice(
        IssueRequest(account_id, "2026-11", datetime(2026, 11, 30, 23, 5, tzinfo=UTC))
    )
    assert summary.invoice_id is not None
    await run.render_invoice(summary.invoice_id)
    [invoice] = (await http.get("/invoices", params={"account_id": account_id})).json()
    return account_id, invoice


async def test_an_invoice_is_read_and_downloaded(db: Database, http: httpx.AsyncClient) -> None:
    account_id, invoice = await _invoiced(db, http)
    assert (invoice["kind"], invoice["period"], invoice["cdr_count"]) == ("invoice", "2026-11", 2)
    assert Decimal(invoice["total_incl_vat"]) == Decimal("8.50")  # 17 kWh at 0.50, no VAT
    one = await http.get(f"/invoices/{invoice['id']}", headers={"X-API-Key": VIEWER})
    assert one.status_code == 200 and one.json() == invoice
    pdf = await http.get(f"/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert f"Invoice {invoice['number']}" in text and "Total incl. VAT EUR 8.50" in text
    sheet = await http.get(f"/invoices/{invoice['id']}/csv")
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    assert sum(Decimal(r["incl_vat"]) for r in rows) == Decimal(invoice["total_incl_vat"])
    assert (await http.get("/invoices", params={"period": "2026-13"})).status_code == 422
    assert (await http.get("/invoices/999999999")).status_code == 404
    # Without Temporal a run is refused with the reason, and nothing changes.
    refused = await http.post(
        "/invoices/runs", json={"account_id": account_id, "period": "2026-11"}
    )
    assert refused.status_code == 503 and "Temporal" in refused.text


async def test_credit_notes_and_payments(db: Database, http: httpx.AsyncClient) -> None:
    account_id, invoice = await _invoiced(db, http)
    cdr_id = invoice["lines"][0]["cdr_id"]
    part = await http.post(
        "/credit-notes", json={"cdr_id": cdr_id, "reason": "meter fault", "excl_vat": "1.00"}
    )
    assert part.status_code == 201, part.text
    note = part.json()
    assert note["kind"] == "credit_note" and "-CN-" in note["number"]
    assert (Decimal(note["total_incl_vat"]), note["corrects_id"]) == (
        Decimal("-1.00"),
        invoice["id"],
    )
    too_much = await http.post(
        "/credit-notes", json={"cdr_id": cdr_id, "reason": "again", "excl_vat": "100"}
    )
    assert too_much.status_code == 422 and "left to credit" in too_much.text
    unknown = await http.post("/credit-notes", json={"cdr_id": 999999999, "reason": "x"})
    assert unknown.status_code == 422 and "does not exist" in unknown.text
    pdf = await http.get(f"/invoices/{note['id']}/pdf")
    assert "Credit note" in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    listed = (
        await http.get("/invoices", params={"account_id": account_id, "kind": "credit_note"})
    ).json()
    assert [n["id"] for n in listed] == [note["id"]]
    debit = await http.post(
        "/debit-notes", json={"cdr_id": cdr_id, "reason": "parking", "excl_vat": "2.00"}
    )
    assert debit.status_code == 201, debit.text
    charged = debit.json()
    assert charged["kind"] == "debit_note" and "-DN-" in charged["number"]
    assert charged["payment_status"] == "open" and charged["corrects_id"] == invoice["id"]
    for body in (
        {"cdr_id": cdr_id, "reason": "x"},  # how much: required
        {"cdr_id": cdr_id, "reason": "x", "excl_vat": "-1"},
        {"cdr_id": 999999999, "reason": "x", "excl_vat": "1"},
    ):
        assert (await http.post("/debit-notes", json=body)).status_code == 422
    assert (
        await http.post(
            "/debit-notes",
            json={"cdr_id": cdr_id, "reason": "x", "excl_vat": "1"},
            headers={"X-API-Key": VIEWER},
        )
    ).status_code == 403
    listed = (
        await http.get("/invoices", params={"account_id": account_id, "kind": "debit_note"})
    ).json()
    assert [n["id"] for n in listed] == [charged["id"]]

    viewer = await http.post(
        f"/invoices/{invoice['id']}/payments",
        json={"reference": "x"},
        headers={"X-API-Key": VIEWER},
    )
    assert viewer.status_code == 403
    paid = await http.post(f"/invoices/{invoice['id']}/payments", json={"reference": "SEPA 42"})
    assert paid.status_code == 200 and paid.json()["payment_status"] == "paid"
    assert paid.json()["payment_reference"] == "SEPA 42"
    twice = await http.post(f"/invoices/{invoice['id']}/payments", json={"reference": "SEPA 43"})
    assert twice.status_code == 422 and "is paid" in twice.text


async def test_a_prepaid_balance_is_topped_up(db: Database, http: httpx.AsyncClient) -> None:
    account_id = unique("acct")
    assert (
        await http.post("/accounts", json=account(account_id, payment_provider="balance"))
    ).status_code == 201
    odd = await http.post(f"/accounts/{account_id}/balance/top-ups", json={"amount": "10.001"})
    assert odd.status_code == 422 and "decimals" in odd.text
    assert (
        await http.post(f"/accounts/{account_id}/balance/top-ups", json={"amount": "-5"})
    ).status_code == 422
    added = await http.post(
        f"/accounts/{account_id}/balance/top-ups", json={"amount": "25.50", "reference": "iDEAL 7"}
    )
    assert added.status_code == 200, added.text
    balance = added.json()
    assert (Decimal(balance["balance"]), balance["entries"][0]["reference"]) == (
        Decimal("25.50"),
        "iDEAL 7",
    )
    assert (await http.get(f"/accounts/{account_id}/balance")).json() == balance
    assert (await http.get("/accounts/nobody/balance")).status_code == 404
