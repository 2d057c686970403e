"""Pricing of delivered energy (a flat per-kWh price per site for now)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MINOR_UNIT = Decimal("0.01")


def price_energy(energy_wh: float, price_per_kwh: Decimal) -> Decimal:
    """Cost of ``energy_wh`` at ``price_per_kwh``, rounded half-up to the cent."""
    if energy_wh < 0:
        raise ValueError("energy cannot be negative")
    kwh = Decimal(str(energy_wh)) / Decimal(1000)
    return (kwh * price_per_kwh).quantize(MINOR_UNIT, rounding=ROUND_HALF_UP)
