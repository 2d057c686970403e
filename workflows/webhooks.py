"""One webhook delivery as a durable process (``webhook:{delivery}``): attempts with
exponential backoff until the subscriber answers 2xx, says 410 Gone, or the
attempts run out (the delivery is then marked failed). Its input is the
delivery's id only; the notification, the bearer token and the signing key stay
in the database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import WebhookActivities


FIRST_RETRY = timedelta(seconds=5)
ATTEMPTS = 12
"""Five seconds, then doubling up to ten minutes between tries: about an hour."""


def webhook_workflow_id(delivery_id: str) -> str:
    """Business key of a delivery's workflow."""
    return f"webhook:{delivery_id}"


@dataclass(frozen=True)
class WebhookRequest:
    """Which delivery, and how patiently."""

    delivery_id: str
    first_retry_s: float = FIRST_RETRY.total_seconds()
    attempts: int = ATTEMPTS


@workflow.defn(name="WebhookDelivery", sandboxed=False)
class WebhookDeliveryWorkflow:
    """Delivers one notification (see :mod:`activities.webhooks`)."""

    @workflow.run
    async def run(self, request: WebhookRequest) -> str:
        """``delivered`` or ``failed``."""
        workflow.set_current_details(f"delivery {request.delivery_id}")
        try:
            return await workflow.execute_activity_method(
                WebhookActivities.deliver_webhook,
                request.delivery_id,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=request.first_retry_s),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=10),
                    maximum_attempts=request.attempts,
                ),
            )
        except ActivityError:
            await workflow.execute_activity_method(
                WebhookActivities.give_up_webhook,
                request.delivery_id,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=20),
            )
            return "failed"


async def start_deliveries(client: Client, task_queue: str, ids: Sequence[str]) -> list[str]:
    """Start the deliveries' workflows (one already started counts as started);
    returns the ids now running or done."""
    started: list[str] = []
    for ident in ids:
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await client.start_workflow(
                WebhookDeliveryWorkflow.run,
                WebhookRequest(ident),
                id=webhook_workflow_id(ident),
                task_queue=task_queue,
                # Never a second run for one delivery, even after the first ended.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"Webhook delivery {ident}",
            )
        started.append(ident)
    return started
