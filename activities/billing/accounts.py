"""Billing accounts' rules: what an account may be, checked before it is stored.

VAT ids are checked with ``python-stdnum``: an id with a country prefix ("NL...",
"DE...") by that country's rules (EU member states through the VIES format), one
without by the rules of the billing address's country. The stored form is the
compact one with its prefix, so an invoice prints it the way tax offices read it.
"""

from __future__ import annotations

from typing import Any

from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError
from stdnum.util import clean, get_cc_module

from activities.billing.currencies import UnknownCurrency, minor_unit

KINDS = ("fleet", "company", "resident", "driver")
GROUPINGS = ("session", "station", "token")
"""How an invoice's lines are grouped: one per session, per station, per id token
(a vehicle's card)."""
LANGUAGES = ("en", "de", "fr", "nl")
"""Languages invoices are printed in."""
PROVIDERS = ("invoice", "balance", "stripe")
"""How an account pays: by invoice (bank transfer), from a prepaid balance, by card."""


class AccountError(ValueError):
    """An account field that cannot be accepted, with the field's name."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def vat_id(number: str, country: str) -> str:
    """The compact, validated VAT id (with its country prefix), or AccountError.

    ``country`` is the billing address's ISO 3166 alpha-2 code, used when the
    number carries no prefix of its own.
    """
    compact = clean(number, " -./,:").upper().strip() if number else ""
    if not compact:
        raise AccountError("vat_id", "empty")
    prefix = compact[:2].lower()
    try:
        if prefix.isalpha():
            if prefix in eu_vat.MEMBER_STATES or prefix == "el":
                return str(eu_vat.validate(compact))
            module = get_cc_module(prefix, "vat")
            if module is None:
                raise AccountError("vat_id", f"no VAT id rules known for {prefix.upper()!r}")
            return prefix.upper() + str(module.validate(compact[2:]))
        country = country.lower()
        if country in eu_vat.MEMBER_STATES:
            prefixed = ("EL" if country == "gr" else country.upper()) + compact
            return str(eu_vat.validate(prefixed))
        module = get_cc_module(country, "vat")
        if module is None:
            raise AccountError(
                "vat_id", f"no VAT id rules known for {country.upper()!r}: give the prefix"
            )
        return country.upper() + str(module.validate(compact))
    except ValidationError as error:
        raise AccountError("vat_id", f"{number!r} is not a valid VAT id ({error})") from None


def check_address(address: dict[str, Any]) -> dict[str, Any]:
    """A billing address with the fields an invoice prints; AccountError otherwise."""
    allowed = {"line1", "line2", "postal_code", "city", "region", "country"}
    unknown = set(address) - allowed
    if unknown:
        raise AccountError("address", f"unknown fields {sorted(unknown)}")
    for field in ("line1", "city", "country"):
        if not isinstance(address.get(field), str) or not address[field].strip():
            raise AccountError(f"address.{field}", "required")
    for field, value in address.items():
        if value is not None and (not isinstance(value, str) or len(value) > 200):
            raise AccountError(f"address.{field}", "text of at most 200 characters")
    country = address["country"]
    if len(country) != 2 or not country.isalpha() or not country.isascii():
        raise AccountError("address.country", "an ISO 3166 alpha-2 code such as NL")
    return {**address, "country": country.upper()}


def check_currency(currency: str) -> str:
    """An ISO 4217 code the invoices can round in, or AccountError."""
    try:
        minor_unit(currency)
    except UnknownCurrency:
        raise AccountError("currency", f"{currency!r} is not an ISO 4217 currency code") from None
    return currency
