"""A card hold through the API on a real Temporal server, with the worker's Stripe
steps against the stand-in answering with Stripe's recorded shapes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.payments.stripe_adapter import StripeActivities, StripeGateway
from activities.persistence.database import Database
from activities.temporal_link import TemporalLink
from api.app import create_app
from deploy.worker import workflow_runner
from tests.activities.payments.stripe_standin import StripeStandIn
from tests.conftest import unique
from workflows.payment_hold import PaymentHoldWorkflow, payment_hold_workflow_id

OPERATOR, VIEWER = "op-key", "view-key"


async def _state(http: httpx.AsyncClient, key: str, want: str) -> None:
    for _ in range(100):
        answer = await http.get(f"/payment-holds/{key}")
        if answer.status_code == 200 and answer.json()["state"] == want:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"hold {key} never became {want}: {answer.text}")


@pytest.fixture
async def http_on_temporal(
    temporal_dev: WorkflowEnvironment, sqlite_db: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, StripeStandIn]]:
    queue = unique("hold-q")
    app = create_app(
        sqlite_db,
        TemporalLink.of(temporal_dev.client),
        {OPERATOR: "operator", VIEWER: "viewer"},
        queue,
    )
    with StripeStandIn() as stripe_api:
        steps = StripeActivities(StripeGateway("sk_test_standin", api_base=stripe_api.url))
        async with (
            Worker(
                temporal_dev.client,
                task_queue=queue,
                workflows=[PaymentHoldWorkflow],
                activities=[steps.hold_card, steps.capture_card, steps.release_card],
                workflow_runner=workflow_runner(),
            ),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://api",
                headers={"X-API-Key": OPERATOR},
            ) as client,
        ):
            yield client, stripe_api


async def test_a_hold_is_placed_and_captured_through_the_api(
    http_on_temporal: tuple[httpx.AsyncClient, StripeStandIn], temporal_dev: WorkflowEnvironment
) -> None:
    http, stripe_api = http_on_temporal
    key = unique("CP-7:TX")
    body = {"key": key, "amount": "40.00", "currency": "EUR", "payment_method": "pm_card_visa"}
    placed = await http.post("/payment-holds", json=body)
    assert placed.status_code == 202, placed.text
    assert (await http.post("/payment-holds", json=body)).status_code == 202  # joined
    await _state(http, key, "held")
    viewer = await http.post(
        f"/payment-holds/{key}/settle", json={"total": "12.34"}, headers={"X-API-Key": VIEWER}
    )
    assert viewer.status_code == 403
    assert (
        await http.post(f"/payment-holds/{key}/settle", json={"total": "12.34"})
    ).status_code == 202
    result = await temporal_dev.client.get_workflow_handle_for(
        PaymentHoldWorkflow.run, payment_hold_workflow_id(key)
    ).result()
    assert result.outcome == "captured" and result.capture is not None
    assert result.capture.amount == "12.34"
    assert len([c for c in stripe_api.calls if c[1] == "/v1/payment_intents"]) == 1  # one hold


async def test_bad_holds_are_refused_with_the_reason(
    http_on_temporal: tuple[httpx.AsyncClient, StripeStandIn],
) -> None:
    http, _ = http_on_temporal
    odd = {"key": "k1", "amount": "10.001", "currency": "EUR", "payment_method": "pm_card_visa"}
    answer = await http.post("/payment-holds", json=odd)
    assert answer.status_code == 422 and "decimals" in answer.text
    unknown = {**odd, "amount": "10", "currency": "XYZ"}
    answer = await http.post("/payment-holds", json=unknown)
    assert answer.status_code == 422 and "ISO 4217" in answer.text
    assert (await http.get(f"/payment-holds/{unique('none')}")).status_code == 404
    # A hold for a session to come names both its station and its id token.
    half = {**odd, "amount": "10", "station_id": "CP-1"}
    answer = await http.post("/payment-holds", json=half)
    assert answer.status_code == 422 and "give both" in answer.text
    nowhere = {**half, "id_token": "QR-1", "station_id": unique("none")}
    answer = await http.post("/payment-holds", json=nowhere)
    assert answer.status_code == 404 and "station" in answer.text
    assert (
        await http.post(f"/payment-holds/{unique('none')}/settle", json={"total": "1"})
    ).status_code == 404
