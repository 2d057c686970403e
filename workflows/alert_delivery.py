"""One alert delivery (``alert:{delivery}``): attempts with exponential backoff
until the target takes it or the attempts run out. Its input is the delivery's id
only: the incident, the target and its secret stay in the database."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.alerts import AlertActivities

ATTEMPTS = 10
"""Five seconds, then doubling up to ten minutes between tries: about forty minutes."""


def alert_workflow_id(delivery_id: str) -> str:
    """Business key of an alert delivery's workflow."""
    return f"alert:{delivery_id}"


@workflow.defn(name="AlertDelivery", sandboxed=False)
class AlertDeliveryWorkflow:
    """Delivers one alert (see :mod:`activities.alerts`)."""

    @workflow.run
    async def run(self, delivery_id: str) -> str:
        """``delivered``, ``failed`` or ``gone``."""
        workflow.set_current_details(f"alert delivery {delivery_id}")
        try:
            return await workflow.execute_activity_method(
                AlertActivities.deliver_alert,
                delivery_id,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=5),
                    backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=10),
                    maximum_attempts=ATTEMPTS,
                ),
            )
        except ActivityError:
            await workflow.execute_activity_method(
                AlertActivities.give_up_alert,
                delivery_id,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=20),
            )
            return "failed"
