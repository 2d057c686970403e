"""Billing accounts through the API on each backend: checked VAT ids and addresses,
token ownership, and the account's customer group choosing the tariff of its CDRs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from activities.persistence.database import Database
from activities.sessions import SessionActivities, SettleRequest
from tests.api.conftest import VIEWER, api_client
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction
from workflows.domain import SessionStopped


@pytest.fixture
async def http(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(db) as client:
        yield client


def account(account_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": account_id,
        "name": "Rotterdam Taxi BV",
        "kind": "fleet",
        "customer_group": "fleet",
        "address": {
            "line1": "Coolsingel 1",
            "postal_code": "3011 AD",
            "city": "Rotterdam",
            "country": "nl",
        },
        "email": "finance@example.com",
        "grouping": "token",
        "language": "nl",
        "time_zone": "Europe/Amsterdam",
        **fields,
    }


async def test_an_account_is_opened_with_a_checked_vat_id(http: httpx.AsyncClient) -> None:
    account_id = unique("acct")
    made = await http.post("/accounts", json=account(account_id, vat_id="004495445B01"))
    assert made.status_code == 201, made.text
    body = made.json()
    # No prefix given: the address's country's rules, stored with its prefix.
    assert body["vat_id"] == "NL004495445B01" and body["address"]["country"] == "NL"
    assert (body["currency"], body["grouping"], body["language"]) == ("EUR", "token", "nl")
    read = await http.get(f"/accounts/{account_id}", headers={"X-API-Key": VIEWER})
    assert read.status_code == 200 and read.json() == body
    changed = await http.patch(f"/accounts/{account_id}", json={"vat_id": "DE 136,695 976"})
    assert changed.status_code == 200 and changed.json()["vat_id"] == "DE136695976"
    assert (await http.post("/accounts", json=account(account_id))).status_code == 409


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"vat_id": "DE136695977"}, "vat_id: 'DE136695977' is not a valid VAT id"),
        ({"vat_id": "ZZ12345"}, "no VAT id rules known for 'ZZ'"),
        ({"currency": "XYZ"}, "currency: 'XYZ' is not an ISO 4217 currency code"),
        ({"address": {"line1": "x", "country": "NL"}}, "city"),
        ({"grouping": "vehicle-colour"}, "grouping"),
        ({"email": "not-an-address"}, "email"),
        ({"payment_terms_days": -1}, "payment_terms_days"),
        ({"time_zone": "Mars/Base"}, "IANA"),
        ({"customer_group": "vip"}, "customer_group"),
    ],
)
async def test_bad_account_fields_are_refused_with_the_reason(
    http: httpx.AsyncClient, change: dict[str, Any], reason: str
) -> None:
    account_id = unique("acct")
    answer = await http.post("/accounts", json=account(account_id, **change))
    assert answer.status_code == 422 and reason in answer.text, answer.text
    assert (await http.get(f"/accounts/{account_id}")).status_code == 404


async def test_only_operators_change_accounts(http: httpx.AsyncClient) -> None:
    account_id = unique("acct")
    denied = await http.post("/accounts", json=account(account_id), headers={"X-API-Key": VIEWER})
    assert denied.status_code == 403
    anonymous = await http.get("/accounts", headers={"X-API-Key": "nope"})
    assert anonymous.status_code == 401
    assert (await http.get(f"/accounts/{account_id}")).status_code == 404


async def test_a_token_belongs_to_one_account_at_a_time(http: httpx.AsyncClient) -> None:
    first, second, token = unique("acct"), unique("acct"), unique("TAG")[:20]
    for account_id in (first, second):
        assert (await http.post("/accounts", json=account(account_id))).status_code == 201
    assert (await http.post("/id-tokens", json={"id_token": token})).status_code == 201
    owned = await http.put(f"/accounts/{first}/tokens/{token}")
    assert owned.status_code == 200 and owned.json()["account_id"] == first
    taken = await http.put(f"/accounts/{second}/tokens/{token}")
    assert taken.status_code == 409
    assert (await http.put(f"/accounts/{first}/tokens/unknown-tag")).status_code == 404
    assert [t["id_token"] for t in (await http.get(f"/accounts/{first}/tokens")).json()] == [token]
    assert (await http.delete(f"/accounts/{second}/tokens/{token}")).status_code == 404
    assert (await http.delete(f"/accounts/{first}/tokens/{token}")).status_code == 204
    assert (await http.put(f"/accounts/{second}/tokens/{token}")).status_code == 200
    closed = await http.post(f"/accounts/{second}/close")
    assert closed.status_code == 200 and closed.json()["closed_at"] is not None
    assert (await http.get(f"/accounts/{second}/tokens")).json() == []
    assert (await http.put(f"/accounts/{second}/tokens/{token}")).status_code == 422


def _tariff(tariff_id: str, energy: str) -> dict[str, Any]:
    return {
        "id": tariff_id,
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": energy, "step_size": 1}]}],
    }


async def test_the_accounts_group_prices_its_sessions(
    db: Database, http: httpx.AsyncClient
) -> None:
    """A fleet account's token gets the site's fleet tariff and its CDR names the
    account; a token nobody owns gets the public tariff."""
    site, station = unique("site"), unique("CP")
    fleet, mine, stranger = unique("acct"), unique("TAG")[:20], unique("TAG")[:20]
    await http.post("/sites", json={"id": site, "name": site, "price_per_kwh": "0.5"})
    public_tariff, fleet_tariff = unique("T"), unique("T")
    for tariff_id, energy, group in (
        (public_tariff, "0.60", "public"),
        (fleet_tariff, "0.25", "fleet"),
    ):
        assert (await http.post("/tariffs", json=_tariff(tariff_id, energy))).status_code == 201
        assigned = await http.post(
            f"/tariffs/{tariff_id}/assignments", json={"site_id": site, "customer_group": group}
        )
        assert assigned.status_code == 201, assigned.text
    await seed_station(db, station, site_id=site, tokens={mine: "accepted", stranger: "accepted"})
    assert (await http.post("/accounts", json=account(fleet))).status_code == 201
    assert (await http.put(f"/accounts/{fleet}/tokens/{mine}")).status_code == 200

    activities = SessionActivities(db)
    cdrs = []
    for connector, token in ((1, mine), (2, stranger)):
        start = await seed_transaction(
            db,
            station,
            site_id=site,
            meter_start_wh=0,
            started_at=datetime.now(UTC),
            connector_id=connector,
            id_token=token,
        )
        stop = SessionStopped(start.transaction_id, 10_000, start.started_at + timedelta(hours=1))
        cdrs.append(await activities.settle_session(SettleRequest(start=start, stop=stop)))
    assert [c.tariff_id for c in cdrs] == [fleet_tariff, public_tariff]
    assert [Decimal(c.total_cost) for c in cdrs] == [Decimal("2.50"), Decimal("6.00")]
    listed = (await http.get("/cdrs", params={"account_id": fleet})).json()
    assert [(c["id_token"], c["customer_group"]) for c in listed] == [(mine, "fleet")]
