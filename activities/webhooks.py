"""Webhook calls to utilities' subscribers: signed, recorded, retried by Temporal.

Every call is an HTTP POST of the OpenADR 3 notification (``objectType``,
``operation``, ``object``, ``targets``) as JSON, with

- ``Authorization: Bearer <token>``: the token the subscription gave for it;
- ``X-CSMS-Signature: t=<unix seconds>,v1=<hex>``: HMAC-SHA256, keyed with the
  utility's webhook signing key, of ``"<t>." + body``; the subscriber recomputes
  it (:func:`verify_signature`) and refuses a stale ``t``, so a captured call
  cannot be replayed later;
- ``X-CSMS-Delivery``: the delivery's id (the same on every retry, to deduplicate).

A 2xx answer delivers it; anything else, or no answer, is retried with backoff
by the delivery's workflow; 410 Gone stops at once. Each attempt is written to
the delivery's row, which the API shows. The bearer token and the signing key
are read from the database at each attempt: they never enter a workflow history.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import httpx
from sqlalchemy import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.persistence.database import Database
from activities.persistence.models import DrDelivery, DrReport, DrSubscription, UtilityClient
from activities.persistence.repositories import webhooks
from activities.persistence.repositories.webhooks import DELIVERED, FAILED, PENDING

SIGNATURE_HEADER = "X-CSMS-Signature"
DELIVERY_HEADER = "X-CSMS-Delivery"
TIMEOUT_S = 10.0
SIGNATURE_TOLERANCE_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is not older (or
    newer) than ``tolerance_s``: what a subscriber checks before trusting a call."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


class WebhookActivities:
    """Delivery of the notifications queued for subscribers."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        # Made on first use: it belongs to the worker's event loop.
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False)
        return self._http

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(self, delivery_id: str) -> str:
        """One attempt at a delivery: its final status, or an error Temporal retries."""
        attempt = activity.info().attempt
        async with self._db.sessions() as session:
            delivery = await session.get(DrDelivery, delivery_id)
            if delivery is None:
                return FAILED
            if delivery.status != PENDING:
                return delivery.status  # a retry after the answer was recorded
            subscription = await session.get(DrSubscription, delivery.subscription_id)
            client = await session.get(UtilityClient, delivery.client_id)
            if subscription is not None and client is not None:
                token = next(
                    (
                        o.get("bearerToken")
                        for o in subscription.body.get("objectOperations") or []
                        if o.get("callbackUrl") == delivery.callback_url
                    ),
                    None,
                )
                body = json.dumps(delivery.payload, separators=(",", ":")).encode()
                url, secret = delivery.callback_url, client.webhook_secret
        if subscription is None or client is None:
            await self._record(delivery_id, attempt, None, "subscription deleted", FAILED)
            return FAILED
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, int(time.time()), body),
            DELIVERY_HEADER: delivery_id,
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            answer = await self._client().post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            reason = f"{type(error).__name__}: {error}"[:500]
            await self._record(delivery_id, attempt, None, reason, PENDING)
            raise ApplicationError(f"no answer from the callback: {reason}") from None
        code = answer.status_code
        if 200 <= code < 300:
            await self._record(delivery_id, attempt, code, None, DELIVERED)
            return DELIVERED
        if code == 410:
            await self._record(delivery_id, attempt, code, "410 Gone", FAILED)
            return FAILED
        await self._record(delivery_id, attempt, code, f"HTTP {code}", PENDING)
        raise ApplicationError(f"the callback answered HTTP {code}")

    @activity.defn(name="give_up_webhook")
    async def give_up_webhook(self, delivery_id: str) -> None:
        """Every retry failed: the delivery is marked failed (its row keeps the reason)."""
        async with self._db.sessions.begin() as session:
            delivery = await session.get(DrDelivery, delivery_id)
            if delivery is not None and delivery.status == PENDING:
                delivery.status = FAILED

    @activity.defn(name="queue_report_notifications")
    async def queue_report_notifications(self, report_id: str) -> list[str]:
        """The deliveries telling subscribers a report is ready (queued once: a retry
        finds them)."""
        async with self._db.sessions.begin() as session:
            known = await webhooks.of_object(session, "REPORT", report_id)
            if known:
                return list(known)
            report = await session.get(DrReport, report_id)
            if report is None:
                return []
            sites = [r["resourceName"] for r in report.body.get("resources") or []]
            added = await webhooks.queue(
                session,
                client_id=report.client_id,
                object_type="REPORT",
                operation="POST",
                obj=report.body,
                program_id=report.program_id,
                targets=sites,
                # Its workflow is started by the event's, durably.
                started_at=datetime.now(UTC),
            )
            return [d.id for d in added]

    async def _record(
        self, delivery_id: str, attempt: int, code: int | None, error: str | None, status: str
    ) -> None:
        async with self._db.sessions.begin() as session:
            delivery = await session.scalar(select(DrDelivery).where(DrDelivery.id == delivery_id))
            if delivery is None:
                return
            now = datetime.now(UTC)
            delivery.attempts = max(delivery.attempts, attempt)
            delivery.last_status_code = code
            delivery.last_error = error
            delivery.last_attempt_at = now
            delivery.status = status
            if status == DELIVERED:
                delivery.delivered_at = now
