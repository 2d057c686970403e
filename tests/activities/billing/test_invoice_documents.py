"""Invoice documents: a fleet's month of lines over several pages, every line and
total printed; names in any European script printed as written."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from pypdf import PdfReader

from activities.billing.invoice_documents import invoice_csv, invoice_pdf


def _invoice(name: str, street: str, lines: int, language: str = "en") -> dict[str, Any]:
    rows: list[dict[str, Any]] = [
        {
            "group": "session",
            "key": str(k),
            "sessions": 1,
            "energy_kwh": "10",
            "first": f"2026-11-{1 + k % 28:02d}T08:00+01:00",
            "last": "",
            "excl_vat": f"{4 + k % 7}.50",
            "vat": "0.95",
            "incl_vat": f"{5 + k % 7}.45",
            "cdr_id": k,
            "station_id": "CP-1",
            "transaction_id": f"TX{k}",
            "id_token": None,
        }
        for k in range(lines)
    ]
    excl = sum((Decimal(r["excl_vat"]) for r in rows), Decimal(0))
    vat = sum((Decimal(r["vat"]) for r in rows), Decimal(0))
    return {
        "kind": "invoice",
        "number": "OP-2026-000007",
        "issuer": "op",
        "issued_on": "2026-12-01",
        "due_on": "2026-12-15",
        "period": "2026-11",
        "corrects": None,
        "currency": "EUR",
        "account": {
            "name": name,
            "address": {"line1": street, "city": "City", "country": "PL"},
            "language": language,
            "vat_id": None,
        },
        "lines": rows,
        "vat_breakdown": [{"rate": "21", "excl_vat": str(excl), "vat": str(vat)}],
        "total_excl_vat": str(excl),
        "total_vat": str(vat),
        "total_incl_vat": str(excl + vat),
    }


def _text(pdf: bytes) -> tuple[int, str]:
    pages = PdfReader(io.BytesIO(pdf)).pages
    return len(pages), "\n".join(page.extract_text() for page in pages)


def test_a_long_invoice_runs_over_pages_with_every_line_and_the_totals() -> None:
    invoice = _invoice("Depot BV", "Kade 1", 150)
    pdf = invoice_pdf(invoice)
    pages, text = _text(pdf)
    assert pages == 3
    for k in range(150):
        assert f"Session TX{k} at CP-1" in text
    assert f"Total incl. VAT EUR {invoice['total_incl_vat']}" in text
    rows = list(csv.DictReader(io.StringIO(invoice_csv(invoice))))
    assert len(rows) == 150
    assert sum(Decimal(r["incl_vat"]) for r in rows) == Decimal(invoice["total_incl_vat"])
    # All Latin-1: the PDF's core fonts, nothing embedded.
    assert b"/Helvetica" in pdf and b"DejaVu" not in pdf


def test_names_outside_latin1_are_printed_as_written() -> None:
    invoice = _invoice("Flota Łódź sp. z o.o.", "ul. Żółkiewskiego 3", 3, language="de")
    invoice["lines"][0]["station_id"] = "Ścinawa-1"
    pdf = invoice_pdf(invoice)
    _, text = _text(pdf)
    assert "Flota Łódź sp. z o.o." in text and "ul. Żółkiewskiego 3" in text
    assert "Ladevorgang TX0 an Ścinawa-1" in text and "Rechnung OP-2026-000007" in text
    assert f"Summe brutto EUR {invoice['total_incl_vat']}" in text
    assert b"DejaVu" in pdf  # embedded, subset to what is printed
