"""The Stripe adapter and the pre-authorisation workflow, with the real ``stripe``
package over real HTTP against a stand-in that answers with Stripe's recorded
response shapes: hold, capture the total (the rest released), release, decline,
idempotent retries, and a hold released before it lapses (time-skipping server)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.payments.stripe_adapter import (
    HoldRequest,
    PaymentDeclined,
    StripeActivities,
    StripeGateway,
    to_stripe_amount,
)
from deploy.worker import workflow_runner
from tests.activities.payments.stripe_standin import DECLINED, StripeStandIn
from tests.conftest import unique
from tests.workflows import history_recorder
from workflows.payment_hold import PaymentHoldWorkflow, payment_hold_workflow_id

KEY = "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc"  # Stripe's documented test key shape


@pytest.fixture
def stripe_api() -> Iterator[StripeStandIn]:
    with StripeStandIn() as server:
        yield server


async def test_a_hold_is_placed_and_the_total_captured(stripe_api: StripeStandIn) -> None:
    gateway = StripeGateway(KEY, api_base=stripe_api.url)
    hold = await gateway.hold(
        Decimal("25.00"),
        "EUR",
        payment_method="pm_card_visa",
        customer=None,
        key="CP-1:TX-9",
        description="Charging at CP-1",
    )
    assert (hold.amount, hold.status) == ("25.00", "requires_capture")
    method, path, form, headers = stripe_api.calls[0]
    assert (method, path) == ("POST", "/v1/payment_intents")
    assert form["amount"] == ["2500"] and form["currency"] == ["eur"]
    assert form["capture_method"] == ["manual"] and form["confirm"] == ["true"]
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["Idempotency-Key"] == "hold:CP-1:TX-9"
    capture = await gateway.capture(hold, Decimal("18.37"), key="CP-1:TX-9")
    assert (capture.amount, capture.status) == ("18.37", "succeeded")
    assert stripe_api.calls[1][1] == f"/v1/payment_intents/{hold.intent_id}/capture"
    assert stripe_api.calls[1][2]["amount_to_capture"] == ["1837"]
    # A retry of the same capture (after a crash) is answered as the first was.
    again = await gateway.capture(hold, Decimal("18.37"), key="CP-1:TX-9")
    assert again == capture and stripe_api.intents[hold.intent_id]["amount_received"] == 1837


async def test_more_than_the_hold_is_never_taken_and_nothing_releases_all(
    stripe_api: StripeStandIn,
) -> None:
    gateway = StripeGateway(KEY, api_base=stripe_api.url)
    hold = await gateway.hold(
        Decimal("3000"),
        "JPY",
        payment_method="pm_card_visa",
        customer="cus_1",
        key="k",
        description="x",
    )
    assert stripe_api.calls[0][2]["amount"] == ["3000"]  # JPY has no minor unit
    capped = await gateway.capture(hold, Decimal("4200"), key="k")
    assert capped.amount == "3000"
    other = await gateway.hold(
        Decimal("10"),
        "EUR",
        payment_method="pm_card_visa",
        customer=None,
        key="k2",
        description="x",
    )
    released = await gateway.capture(other, Decimal("0"), key="k2")
    assert released.status == "canceled"
    assert stripe_api.intents[other.intent_id]["status"] == "canceled"
    assert to_stripe_amount(Decimal("1.005"), "KWD") == 1005


async def test_a_declined_card_says_why(stripe_api: StripeStandIn) -> None:
    gateway = StripeGateway(KEY, api_base=stripe_api.url)
    with pytest.raises(PaymentDeclined) as declined:
        await gateway.hold(
            Decimal("25"), "EUR", payment_method=DECLINED, customer=None, key="d", description="x"
        )
    assert declined.value.code == "card_declined"
    assert "insufficient funds" in str(declined.value)


def _worker(env: WorkflowEnvironment, stripe_api: StripeStandIn, queue: str) -> Worker:
    steps = StripeActivities(StripeGateway(KEY, api_base=stripe_api.url))
    return Worker(
        env.client,
        task_queue=queue,
        workflows=[PaymentHoldWorkflow],
        activities=[steps.hold_card, steps.capture_card, steps.release_card],
        workflow_runner=workflow_runner(),
    )


async def test_the_workflow_captures_the_cdr_total(
    time_skipping: WorkflowEnvironment, stripe_api: StripeStandIn
) -> None:
    queue, key = unique("pay-q"), unique("CP-1:TX")
    async with _worker(time_skipping, stripe_api, queue):
        handle = await time_skipping.client.start_workflow(
            PaymentHoldWorkflow.run,
            HoldRequest(key, "30.00", "EUR", "pm_card_visa"),
            id=payment_hold_workflow_id(key),
            task_queue=queue,
        )
        await handle.signal(PaymentHoldWorkflow.settle, "21.40")
        result = await handle.result()
        await history_recorder.keep(handle)
    assert result.outcome == "captured" and result.capture is not None
    assert result.capture.amount == "21.40"


async def test_a_hold_never_settled_is_released_before_it_lapses(
    time_skipping: WorkflowEnvironment, stripe_api: StripeStandIn
) -> None:
    """Nobody sends the total: six and a half days on (skipped), the hold goes back."""
    queue, key = unique("pay-q"), unique("CP-2:TX")
    async with _worker(time_skipping, stripe_api, queue):
        handle = await time_skipping.client.start_workflow(
            PaymentHoldWorkflow.run,
            HoldRequest(key, "30.00", "EUR", "pm_card_visa"),
            id=payment_hold_workflow_id(key),
            task_queue=queue,
        )
        result = await handle.result()
        await history_recorder.keep(handle)
    assert result.outcome == "expired" and result.hold is not None
    assert stripe_api.intents[result.hold.intent_id]["status"] == "canceled"


async def test_a_declined_card_ends_the_workflow_as_declined(
    time_skipping: WorkflowEnvironment, stripe_api: StripeStandIn
) -> None:
    queue, key = unique("pay-q"), unique("CP-3:TX")
    async with _worker(time_skipping, stripe_api, queue):
        handle = await time_skipping.client.start_workflow(
            PaymentHoldWorkflow.run,
            HoldRequest(key, "30.00", "EUR", DECLINED),
            id=payment_hold_workflow_id(key),
            task_queue=queue,
        )
        result = await handle.result()
        await history_recorder.keep(handle)
    assert result.outcome == "declined" and "insufficient funds" in (result.reason or "")
