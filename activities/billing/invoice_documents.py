"""An issued invoice or credit note as a PDF (fpdf2) and a CSV, in the account's language.

Both are rendered from the stored invoice alone, so they always show the figures
the database holds: the CSV has one row per line with the same amounts, and the
PDF prints those rows, the VAT breakdown and the totals. An invoice whose text is
all Latin-1 uses the PDF core fonts (Helvetica, Courier: nothing embedded, the
fastest to render); any other (a Polish street, a Greek name) embeds the DejaVu
fonts that ship with matplotlib, subset to the characters used. Amounts carry the
ISO currency code rather than a symbol.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fpdf import FPDF

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice",
        "credit_note": "Credit note",
        "debit_note": "Debit note",
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
        "debit_note": "Belastungsanzeige",
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
        "debit_note": "Note de débit",
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
        "debit_note": "Debetnota",
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
    try:
        return template.format_map(line)
    except KeyError:  # a line without a field its template names: leave it out
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


def _is_latin1(texts: Iterable[Any]) -> bool:
    try:
        for text in texts:
            str(text).encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


CORE_FONTS = {"sans": "Helvetica", "mono": "Courier"}
UNICODE_FONTS = {"sans": "DejaVu", "mono": "DejaVuMono"}
_DEJAVU = {
    ("DejaVu", ""): "DejaVuSans.ttf",
    ("DejaVu", "B"): "DejaVuSans-Bold.ttf",
    ("DejaVuMono", ""): "DejaVuSansMono.ttf",
    ("DejaVuMono", "B"): "DejaVuSansMono-Bold.ttf",
}


def _dejavu_folder() -> Path:
    """Where matplotlib keeps its DejaVu fonts (found without importing matplotlib)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("matplotlib (a dependency) is not installed: no Unicode fonts")
    return Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"


def _add_unicode_fonts(pdf: FPDF) -> None:
    folder = _dejavu_folder()
    for (family, style), name in _DEJAVU.items():
        pdf.add_font(family, style, str(folder / name))


class _Page:
    """Text placed line by line on A4 pages: ``FPDF.text`` only, which costs a tenth
    of a ``cell`` (an invoice of a fleet's month has hundreds of lines)."""

    TOP = 20.0
    BOTTOM = 20.0

    def __init__(self, pdf: FPDF, fonts: dict[str, str]) -> None:
        self.pdf = pdf
        self.y = self.TOP
        self.fonts = fonts
        # Core fonts cover Latin-1 only: anything else would print as "?".
        self.clean = _latin1 if fonts is CORE_FONTS else str
        pdf.add_page()

    def font(self, kind: str, style: str, size: float) -> None:
        """``kind`` is ``sans`` or ``mono``."""
        self.pdf.set_font(self.fonts[kind], style, size)

    def line(self, height: float, *cells: tuple[float, Any]) -> None:
        """One line of text runs, each at its offset (mm) from the left margin."""
        if self.y + height > self.pdf.h - self.BOTTOM:
            self.pdf.add_page()
            self.y = self.TOP
        self.y += height
        for offset, text in cells:
            self.pdf.text(self.pdf.l_margin + offset, self.y, self.clean(text))

    def skip(self, height: float) -> None:
        self.y += height


def invoice_pdf(invoice: Mapping[str, Any]) -> bytes:
    """The invoice as a PDF of one or more A4 pages."""
    account = invoice["account"]
    language = account.get("language", "en")
    labels = LABELS.get(language, LABELS["en"])
    currency = invoice["currency"]
    pdf = FPDF(format="A4")
    address = account.get("address", {})
    descriptions = [describe(line, language) for line in invoice["lines"]]
    fonts = CORE_FONTS
    if not _is_latin1([*labels.values(), *account.values(), *descriptions, invoice["number"]]):
        _add_unicode_fonts(pdf)
        fonts = UNICODE_FONTS
    clean = _latin1 if fonts is CORE_FONTS else str
    pdf.set_title(clean(f"{labels[invoice['kind']]} {invoice['number']}"))
    pdf.set_author(clean(invoice.get("issuer", "")))
    pdf.set_auto_page_break(auto=False)
    page = _Page(pdf, fonts)
    page.font("sans", "B", 16)
    page.line(7, (0, f"{labels[invoice['kind']]} {invoice['number']}"))
    page.skip(3)
    page.font("sans", "", 10)
    for text in (
        account.get("name"),
        address.get("line1"),
        address.get("line2"),
        " ".join(p for p in (address.get("postal_code"), address.get("city")) if p),
        address.get("country"),
        f"{labels['vat_id']}: {account['vat_id']}" if account.get("vat_id") else None,
    ):
        if text:
            page.line(5, (0, text))
    page.skip(4)
    facts = [
        (labels["number"], invoice["number"]),
        (labels["date"], invoice["issued_on"]),
        (labels["due"], invoice.get("due_on")),
        (labels["period"], invoice.get("period")),
        (labels["corrects"].format(number=""), invoice.get("corrects")),
    ]
    for label, value in facts:
        if value:
            page.line(5, (0, label.strip()), (40, value))
    page.skip(4)
    # The lines in a monospaced table, one text run per row.
    head = (
        labels["description"],
        labels["sessions"],
        labels["kwh"],
        labels["excl_vat"],
        labels["vat"],
        labels["incl_vat"],
    )
    page.font("mono", "B", 8)
    page.line(_ROW_MM, (0, _row(head)))
    page.font("mono", "", 8)
    for line, description in zip(invoice["lines"], descriptions, strict=True):
        cells = (
            description,
            line.get("sessions", ""),
            line.get("energy_kwh", ""),
            line["excl_vat"],
            line["vat"],
            line["incl_vat"],
        )
        page.line(_ROW_MM, (0, _row(cells)))
    page.skip(4)
    page.font("sans", "B", 9)
    page.line(6, (0, labels["vat_breakdown"]))
    page.font("sans", "", 8)
    for row in invoice["vat_breakdown"]:
        page.line(
            5,
            (0, f"{labels['rate']} {row['rate']} %"),
            (40, f"{labels['excl_vat']} {currency} {row['excl_vat']}"),
            (80, f"{labels['vat']} {currency} {row['vat']}"),
        )
    page.skip(3)
    page.font("sans", "B", 10)
    for label, key in (
        ("excl_vat", "total_excl_vat"),
        ("vat", "total_vat"),
        ("incl_vat", "total_incl_vat"),
    ):
        page.line(6, (0, f"{labels['total']} {labels[label]}"), (60, f"{currency} {invoice[key]}"))
    return bytes(pdf.output())
