"""Card payments for ad-hoc sessions through Stripe (the official ``stripe`` package):
a manual-capture pre-authorisation held when the session starts, the CDR's total
captured when it ends (Stripe releases the rest of the hold with the capture), or
the whole hold released when the session is not billed.

Every call carries an idempotency key derived from the session, so an activity
retried after a crash never holds or captures twice. Amounts go to Stripe in the
currency's minor unit, as its API wants them.

Running against Stripe's test mode: set ``CSMS_STRIPE_API_KEY=sk_test_...`` and pay
with a test payment method such as ``pm_card_visa`` (see
https://docs.stripe.com/testing); the tests here run the same adapter against a
local server that answers with recorded Stripe response shapes (Stripe is not
reachable from CI).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import stripe
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.billing.currencies import minor_unit

HOLD_LIFETIME = timedelta(days=7)
"""How long Stripe keeps an uncaptured card authorisation (online card payments)."""
CAPTURE_MARGIN = timedelta(hours=12)
"""Capture (or release) this long before the hold would lapse."""


class PaymentDeclined(Exception):
    """The card was declined; ``code`` is Stripe's decline code."""

    def __init__(self, message: str, code: str | None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Hold:
    """A pre-authorisation: ``amount`` (decimal text) held on the card until
    ``expires_at``."""

    intent_id: str
    amount: str
    currency: str
    status: str
    expires_at: datetime


@dataclass(frozen=True)
class Capture:
    """What was taken from a hold (``amount`` as decimal text; the rest is released)."""

    intent_id: str
    amount: str
    status: str


def to_stripe_amount(amount: Decimal, currency: str) -> int:
    """An amount in the currency's minor unit (Stripe's integer amounts)."""
    return int(amount.scaleb(minor_unit(currency)).to_integral_value())


def from_stripe_amount(amount: int, currency: str) -> Decimal:
    """Stripe's integer amount back to the currency's decimals."""
    return Decimal(amount).scaleb(-minor_unit(currency))


class StripeGateway:
    """Holds, captures and releases card payments with Stripe's PaymentIntents."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        http_client: stripe.HTTPClient | None = None,
    ) -> None:
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=http_client,
            max_network_retries=2,
        )

    async def hold(
        self,
        amount: Decimal,
        currency: str,
        *,
        payment_method: str,
        customer: str | None,
        key: str,
        description: str,
    ) -> Hold:
        """Authorise ``amount`` on the card without taking it (capture_method manual)."""
        params: dict[str, Any] = {
            "amount": to_stripe_amount(amount, currency),
            "currency": currency.lower(),
            "capture_method": "manual",
            "confirm": True,
            "payment_method": payment_method,
            "payment_method_types": ["card"],
            "description": description[:350],
        }
        if customer:
            params["customer"] = customer
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": f"hold:{key}"},
            )
        except stripe.CardError as error:
            raise PaymentDeclined(str(error.user_message or error), error.code) from None
        if intent.status != "requires_capture":
            raise PaymentDeclined(f"the card was not authorised ({intent.status})", None)
        created = datetime.fromtimestamp(intent.created, UTC)
        return Hold(
            intent.id,
            str(from_stripe_amount(intent.amount_capturable, currency)),
            currency,
            intent.status,
            created + HOLD_LIFETIME,
        )

    async def capture(self, hold: Hold, amount: Decimal, *, key: str) -> Capture:
        """Take ``amount`` (at most what is held); Stripe releases the rest."""
        take = min(amount, Decimal(hold.amount))
        if take <= 0:
            await self.release(hold, key=key)
            return Capture(hold.intent_id, "0", "canceled")
        intent = await self._client.v1.payment_intents.capture_async(
            hold.intent_id,
            {"amount_to_capture": to_stripe_amount(take, hold.currency)},
            {"idempotency_key": f"capture:{key}"},
        )
        received = from_stripe_amount(intent.amount_received, hold.currency)
        return Capture(intent.id, str(received), intent.status)

    async def release(self, hold: Hold, *, key: str) -> None:
        """Give the whole hold back (the session is not billed)."""
        await self._client.v1.payment_intents.cancel_async(
            hold.intent_id,
            {"cancellation_reason": "abandoned"},
            {"idempotency_key": f"release:{key}"},
        )


@dataclass(frozen=True)
class HoldRequest:
    """A pre-authorisation to place for one ad-hoc session."""

    key: str  # the session's own id: one hold per session, whatever retries
    amount: str
    currency: str
    payment_method: str
    customer: str | None = None
    description: str = "EV charging session"
    # The session it pays for, when it has not started yet: the next one on this
    # station with this id token claims the hold when it settles, and its CDR
    # total is captured.
    station_id: str | None = None
    id_token: str | None = None


@dataclass(frozen=True)
class CaptureRequest:
    """Take ``amount`` (the CDR's total) from a hold."""

    key: str
    hold: Hold
    amount: str


class StripeActivities:
    """The Stripe steps as activities (a gateway per worker, or none configured)."""

    def __init__(self, gateway: StripeGateway | None) -> None:
        self._gateway = gateway

    def _need(self) -> StripeGateway:
        if self._gateway is None:
            raise ApplicationError(
                "Stripe is not configured (CSMS_STRIPE_API_KEY)",
                type="StripeNotConfigured",
                non_retryable=True,
            )
        return self._gateway

    @activity.defn(name="stripe_hold")
    async def hold_card(self, request: HoldRequest) -> Hold:
        """Place the hold; a declined card fails for good (non-retryable)."""
        try:
            return await self._need().hold(
                Decimal(request.amount),
                request.currency,
                payment_method=request.payment_method,
                customer=request.customer,
                key=request.key,
                description=request.description,
            )
        except PaymentDeclined as error:
            raise ApplicationError(
                str(error), error.code, type="PaymentDeclined", non_retryable=True
            ) from None

    @activity.defn(name="stripe_capture")
    async def capture_card(self, request: CaptureRequest) -> Capture:
        """Capture the total (the rest of the hold is released)."""
        return await self._need().capture(request.hold, Decimal(request.amount), key=request.key)

    @activity.defn(name="stripe_release")
    async def release_card(self, request: CaptureRequest) -> None:
        """Release the whole hold."""
        await self._need().release(request.hold, key=request.key)
