"""A card pre-authorisation for one ad-hoc session (``payment-hold:{key}``): hold at
the start, capture the CDR's total at the end (the rest released), and a timer
that releases the hold before Stripe lets it lapse if the total never comes."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.payments.holds import HoldActivities
    from activities.payments.stripe_adapter import (
        CAPTURE_MARGIN,
        Capture,
        CaptureRequest,
        Hold,
        HoldRequest,
        StripeActivities,
    )

STRIPE_CALL = timedelta(seconds=30)
DATABASE_CALL = timedelta(seconds=30)
SESSION_PATCH = "hold-awaits-session"
"""Holds from here on may wait for a session that has not started (``station_id``,
``id_token``) and are captured with its CDR total."""
RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=2))


def payment_hold_workflow_id(key: str) -> str:
    """The id of a session's pre-authorisation."""
    return f"payment-hold:{key}"


@dataclass(frozen=True)
class PaymentHoldResult:
    """How the hold ended: captured (with the amount), released, expired or declined."""

    outcome: str
    hold: Hold | None = None
    capture: Capture | None = None
    reason: str | None = None


@workflow.defn(name="PaymentHold")
class PaymentHoldWorkflow:
    """Holds, then waits for the session's total (``settle``) or the hold's deadline."""

    def __init__(self) -> None:
        self._total: str | None = None
        self._cancelled = False
        self._state = "holding"

    @workflow.signal
    def settle(self, total: str) -> None:
        """The session's CDR total (VAT included): capture it."""
        self._total = total

    @workflow.signal
    def release(self) -> None:
        """The session is not billed: release the hold."""
        self._cancelled = True

    @workflow.query
    def state(self) -> str:
        """holding, held, captured, released, expired or declined."""
        return self._state

    def _set(self, state: str, detail: str) -> None:
        self._state = state
        workflow.set_current_details(f"**{state}** · {detail}")

    @workflow.run
    async def run(self, request: HoldRequest) -> PaymentHoldResult:
        """The hold's life, from authorisation to capture or release."""
        self._set("holding", f"{request.currency} {request.amount} on the card")
        try:
            hold = await workflow.execute_activity_method(
                StripeActivities.hold_card,
                request,
                start_to_close_timeout=STRIPE_CALL,
                retry_policy=RETRY,
            )
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == "PaymentDeclined":
                self._set("declined", cause.message)
                return PaymentHoldResult("declined", reason=cause.message)
            raise
        deadline = hold.expires_at - CAPTURE_MARGIN
        waits = request.station_id is not None and request.id_token is not None
        if waits and workflow.patched(SESSION_PATCH):
            # Offered to the session's settlement, which claims it with the CDR and
            # signals the total (``settle``).
            await workflow.execute_activity_method(
                HoldActivities.await_session,
                request,
                start_to_close_timeout=DATABASE_CALL,
                retry_policy=RETRY,
            )
        self._set("held", f"{hold.currency} {hold.amount} until {deadline.isoformat()}")
        waited = deadline - workflow.now()
        with contextlib.suppress(TimeoutError):  # the deadline: release
            await workflow.wait_condition(
                lambda: self._total is not None or self._cancelled,
                timeout=max(waited, timedelta(seconds=1)),
            )
        if waits and workflow.patched(SESSION_PATCH):
            # No session claims it from here on (one that already did has signalled).
            await workflow.execute_activity_method(
                HoldActivities.close_hold,
                request.key,
                start_to_close_timeout=DATABASE_CALL,
                retry_policy=RETRY,
            )
        step = CaptureRequest(request.key, hold, self._total or "0")
        if self._total is None:
            await workflow.execute_activity_method(
                StripeActivities.release_card,
                step,
                start_to_close_timeout=STRIPE_CALL,
                retry_policy=RETRY,
            )
            outcome = "released" if self._cancelled else "expired"
            self._set(outcome, "the hold is given back")
            return PaymentHoldResult(outcome, hold)
        capture = await workflow.execute_activity_method(
            StripeActivities.capture_card,
            step,
            start_to_close_timeout=STRIPE_CALL,
            retry_policy=RETRY,
        )
        short = Decimal(capture.amount) < Decimal(self._total)
        self._set(
            "captured",
            f"{hold.currency} {capture.amount} of {self._total}"
            + (" (the hold was smaller than the total)" if short else ""),
        )
        return PaymentHoldResult(
            "captured",
            hold,
            capture,
            reason="the hold was smaller than the total" if short else None,
        )
