"""Pricing and password hashing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from activities.billing import price_energy
from activities.credentials import hash_password, verify_password


@pytest.mark.parametrize(
    ("wh", "price", "cost"),
    [
        (12_500, "0.40", "5.00"),
        (1, "0.30", "0.00"),
        (1_667, "0.30", "0.50"),  # 0.5001 -> 0.50
        (1_650, "0.30", "0.50"),  # 0.495 rounds half up
        (0, "0.99", "0.00"),
    ],
)
def test_price_energy_rounds_half_up_to_the_cent(wh: int, price: str, cost: str) -> None:
    assert price_energy(wh, Decimal(price)) == Decimal(cost)


def test_negative_energy_is_refused() -> None:
    with pytest.raises(ValueError):
        price_energy(-1, Decimal("0.3"))


def test_password_hash_verifies_and_is_salted() -> None:
    first, second = hash_password("correct-horse-battery"), hash_password("correct-horse-battery")
    assert first != second
    assert verify_password("correct-horse-battery", first)
    assert not verify_password("wrong", first)
    assert not verify_password("correct-horse-battery", "garbage")
