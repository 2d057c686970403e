"""ISO 4217 currencies and their minor units, and the one rounding rule for money.

The minor unit is ISO 4217's, not a display convention: EUR has 2 decimals, JPY 0,
KWD 3. A code that is not an active ISO 4217 currency is refused, so a typo in a
tariff (``EURO``, ``US$``) fails when the tariff is written, not when it is billed.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# Active ISO 4217 codes by minor unit (list one, 2024 edition). Funds codes and
# precious metals (XAU, XDR, ...) have no minor unit and are not money we bill in.
_BY_EXPONENT: dict[int, str] = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    2: (
        "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD "
        "BTN BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD "
        "EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR "
        "IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP "
        "MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN "
        "QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL "
        "THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD YER ZAR ZMW "
        "ZWL"
    ),
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
}

MINOR_UNITS: dict[str, int] = {
    code: exponent for exponent, codes in _BY_EXPONENT.items() for code in codes.split()
}


class UnknownCurrency(ValueError):
    """A currency code that is not an active ISO 4217 currency."""


def minor_unit(currency: str) -> int:
    """The number of decimals of ``currency`` (ISO 4217), e.g. 2 for EUR, 0 for JPY."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise UnknownCurrency(f"{currency!r} is not an ISO 4217 currency code") from None


def quantum(currency: str) -> Decimal:
    """The smallest amount of ``currency``: 0.01 for EUR, 1 for JPY, 0.001 for KWD."""
    return Decimal(1).scaleb(-minor_unit(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half away from zero to ``currency``'s minor unit.

    The platform's one rounding rule for a single amount. A priced session rounds
    its total once this way and spreads that total over its lines
    (:func:`activities.billing.pricing.allocate`), so lines always add up.
    """
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)
