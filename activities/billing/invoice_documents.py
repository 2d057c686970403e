"""An issued invoice or credit note as a PDF (fpdf2) and a CSV, in the account's language.

Both are rendered from the stored invoice alone, so they always show the figures
the database holds: the CSV has one row per line with the same amounts, and the
PDF prints those rows, the VAT breakdown and the totals. The PDF uses the core
Helvetica font (Latin-1): characters outside it print as ``?``, and amounts carry
the ISO currency code rather than a symbol.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from fpdf import FPDF

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice",
        "credit_note": "Credit note",
        "number": "Number",
        "date": "Date",
        "due": "Due",
        "period": "Period",
        "vat_id": "VAT id",
        "description": "Description",
        "sessions": "Sessions",
        "kwh": "kWh",
        "excl_vat": "excl. VAT",
        "vat": "VAT",
        "incl_vat": "incl. VAT",
        "vat_breakdown": "VAT",
        "rate": "Rate",
        "total": "Total",
        "session": "Session {transaction_id} at {station_id}, {first}",
        "station": "Station {key}",
        "token": "Card {key}",
        "corrects": "Corrects {number}",
        "cdr": "Correction of session {cdr_id}",
    },
    "de": {
        "invoice": "Rechnung",
        "credit_note": "Gutschrift",
        "number": "Nummer",
        "date": "Datum",
        "due": "Fällig",
        "period": "Zeitraum",
        "vat_id": "USt-IdNr.",
        "description": "Beschreibung",
        "sessions": "Ladevorgänge",
        "kwh": "kWh",
        "excl_vat": "netto",
        "vat": "USt.",
        "incl_vat": "brutto",
        "vat_breakdown": "Umsatzsteuer",
        "rate": "Satz",
        "total": "Summe",
        "session": "Ladevorgang {transaction_id} an {station_id}, {first}",
        "station": "Ladestation {key}",
        "token": "Karte {key}",
        "corrects": "Korrigiert {number}",
        "cdr": "Korrektur Ladevorgang {cdr_id}",
    },
    "fr": {
        "invoice": "Facture",
        "credit_note": "Avoir",
        "number": "Numéro",
        "date": "Date",
        "due": "Échéance",
        "period": "Période",
        "vat_id": "N° TVA",
        "description": "Désignation",
        "sessions": "Sessions",
        "kwh": "kWh",
        "excl_vat": "HT",
        "vat": "TVA",
        "incl_vat": "TTC",
        "vat_breakdown": "TVA",
        "rate": "Taux",
        "total": "Total",
        "session": "Session {transaction_id} à {station_id}, {first}",
        "station": "Borne {key}",
        "token": "Badge {key}",
        "corrects": "Corrige {number}",
        "cdr": "Correction de la session {cdr_id}",
    },
    "nl": {
        "invoice": "Factuur",
        "credit_note": "Creditnota",
        "number": "Nummer",
        "date": "Datum",
        "due": "Vervaldatum",
        "period": "Periode",
        "vat_id": "Btw-nummer",
        "description": "Omschrijving",
        "sessions": "Sessies",
        "kwh": "kWh",
        "excl_vat": "excl. btw",
        "vat": "btw",
        "incl_vat": "incl. btw",
        "vat_breakdown": "Btw",
        "rate": "Tarief",
        "total": "Totaal",
        "session": "Sessie {transaction_id} bij {station_id}, {first}",
        "station": "Laadpaal {key}",
        "token": "Pas {key}",
        "corrects": "Corrigeert {number}",
        "cdr": "Correctie van sessie {cdr_id}",
    },
}

CSV_COLUMNS = (
    "invoice_number",
    "line",
    "description",
    "sessions",
    "energy_kwh",
    "currency",
    "excl_vat",
    "vat",
    "incl_vat",
)


def describe(line: Mapping[str, Any], language: str) -> str:
    """A line's description in the account's language."""
    labels = LABELS.get(language, LABELS["en"])
    template = labels.get(str(line.get("group")), "{key}")
    return template.format(**{key: value for key, value in line.items() if value is not None})


def invoice_csv(invoice: Mapping[str, Any]) -> str:
    """The invoice's lines as CSV: the same amounts the PDF and the database hold."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    language = invoice["account"].get("language", "en")
    for index, line in enumerate(invoice["lines"], start=1):
        writer.writerow(
            [
                invoice["number"],
                index,
                describe(line, language),
                line.get("sessions", ""),
                line.get("energy_kwh", ""),
                invoice["currency"],
                line["excl_vat"],
                line["vat"],
                line["incl_vat"],
            ]
        )
    return out.getvalue()


_ROW_MM = 4.2
_COLUMNS = (48, 13, 10, 11, 10, 11)  # characters: description, sessions, kWh, amounts


def _row(cells: tuple[Any, ...]) -> str:
    """One table row: the description left-aligned (cut to fit), the figures right."""
    first, *rest = (str(cell) for cell in cells)
    width = _COLUMNS[0]
    text = first if len(first) < width else first[: width - 2] + "~"
    return text.ljust(width) + "".join(
        cell.rjust(size) for cell, size in zip(rest, _COLUMNS[1:], strict=True)
    )


def _latin1(text: Any) -> str:
    return str(text).encode("latin-1", "replace").decode("latin-1")


def invoice_pdf(invoice: Mapping[str, Any]) -> bytes:
    """The invoice as a PDF of one or more A4 pages."""
    account = invoice["account"]
    language = account.get("language", "en")
    labels = LABELS.get(language, LABELS["en"])
    currency = invoice["currency"]
    pdf = FPDF(format="A4")
    pdf.set_title(_latin1(f"{labels[invoice['kind']]} {invoice['number']}"))
    pdf.set_author(_latin1(invoice.get("issuer", "")))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(
        0,
        10,
        _latin1(f"{labels[invoice['kind']]} {invoice['number']}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", size=10)
    address = account.get("address", {})
    for text in (
        account.get("name"),
        address.get("line1"),
        address.get("line2"),
        " ".join(p for p in (address.get("postal_code"), address.get("city")) if p),
        address.get("country"),
        f"{labels['vat_id']}: {account['vat_id']}" if account.get("vat_id") else None,
    ):
        if text:
            pdf.cell(0, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    facts = [
        (labels["number"], invoice["number"]),
        (labels["date"], invoice["issued_on"]),
        (labels["due"], invoice.get("due_on")),
        (labels["period"], invoice.get("period")),
        (labels["corrects"].format(number=""), invoice.get("corrects")),
    ]
    for label, value in facts:
        if value:
            pdf.cell(40, 5, _latin1(label.strip()))
            pdf.cell(0, 5, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    # The lines in a monospaced table, one text run per row: a cell per figure
    # costs fpdf2 ~0.1 ms, and an invoice of a fleet's month has hundreds.
    head = (
        labels["description"],
        labels["sessions"],
        labels["kwh"],
        labels["excl_vat"],
        labels["vat"],
        labels["incl_vat"],
    )
    pdf.set_font("Courier", "B", 8)
    pdf.text(pdf.l_margin, pdf.get_y(), _latin1(_row(head)))
    pdf.set_font("Courier", size=8)
    y = pdf.get_y() + _ROW_MM
    for line in invoice["lines"]:
        if y > pdf.h - 20:
            pdf.add_page()
            y = 20.0
        cells = (
            describe(line, language),
            line.get("sessions", ""),
            line.get("energy_kwh", ""),
            line["excl_vat"],
            line["vat"],
            line["incl_vat"],
        )
        pdf.text(pdf.l_margin, y, _latin1(_row(cells)))
        y += _ROW_MM
    pdf.set_y(y)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(0, 6, _latin1(labels["vat_breakdown"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=8)
    for row in invoice["vat_breakdown"]:
        pdf.cell(40, 5, _latin1(f"{labels['rate']} {row['rate']} %"))
        pdf.cell(40, 5, _latin1(f"{labels['excl_vat']} {currency} {row['excl_vat']}"))
        pdf.cell(
            0, 5, _latin1(f"{labels['vat']} {currency} {row['vat']}"), new_x="LMARGIN", new_y="NEXT"
        )
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 10)
    for label, key in (
        ("excl_vat", "total_excl_vat"),
        ("vat", "total_vat"),
        ("incl_vat", "total_incl_vat"),
    ):
        pdf.cell(60, 6, _latin1(f"{labels['total']} {labels[label]}"))
        pdf.cell(0, 6, _latin1(f"{currency} {invoice[key]}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
