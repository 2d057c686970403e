"""Alert delivery: an incident's opening or resolution told to a rule's target.

- **webhook**: an HTTP POST of the alert as JSON, signed the way utilities'
  webhooks are (``X-CSMS-Signature: t=<unix seconds>,v1=<hex>``, HMAC-SHA256 of
  ``"<t>." + body`` keyed with the rule's secret, see
  :func:`activities.webhooks.verify_signature`), with ``X-CSMS-Delivery`` to
  deduplicate retries;
- **email**: a plain-text message through the configured SMTP server.

Each attempt is written to the delivery's row; the delivery's workflow retries
with backoff. The rule's secret and the SMTP password are read here at each
attempt: they never enter a workflow history or a log line.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.persistence.database import Database
from activities.persistence.models import AlertDelivery, AlertRule, Incident, utcnow
from activities.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, sign

TIMEOUT_S = 10.0


@dataclass(frozen=True)
class SmtpSettings:
    """Where e-mail alerts go out."""

    host: str
    port: int = 25
    sender: str = "csms@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False


def alert_body(incident: Incident, event: str) -> dict[str, Any]:
    """What an alert says: the incident (its evidence but the messages), and what
    happened."""
    return {
        "event": event,
        "incident": {
            "id": incident.id,
            "station_id": incident.station_id,
            "site_id": incident.site_id,
            "title": incident.title,
            "severity": incident.severity,
            "fault_class": incident.fault_class,
            "code": incident.code,
            "state": incident.state,
            "evse_id": incident.evse_id,
            "connector_id": incident.connector_id,
            "fault_since": incident.fault_since.isoformat(),
            "opened_at": incident.opened_at.isoformat(),
            "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
            # The evidence without the message log: messages name drivers' tokens, which
            # leave the platform only through the API (GET /incidents/{id}).
            "evidence": {
                k: v for k, v in (incident.evidence or {}).items() if k != "recent_messages"
            },
        },
    }


def email_of(incident: Incident, event: str, sender: str, to: list[str]) -> EmailMessage:
    """The e-mail of an alert: a subject to triage by, the evidence in the body."""
    message = EmailMessage()
    verb = "resolved" if event == "resolved" else "opened"
    message["Subject"] = (
        f"[{incident.severity.upper()}] {incident.station_id}: {incident.title} ({verb})"
    )
    message["From"] = sender
    message["To"] = ", ".join(to)
    evidence = incident.evidence or {}
    lines = [
        f"Incident {incident.id} {verb}.",
        f"Station: {incident.station_id} (site {incident.site_id or '-'}), "
        f"EVSE {incident.evse_id} connector {incident.connector_id}",
        f"Fault: {incident.title} [{incident.fault_class}], code {incident.code}, "
        f"since {incident.fault_since.isoformat()}",
        f"Firmware: {evidence.get('firmware_version') or 'unknown'}",
        f"Last successful session: {evidence.get('last_successful_session') or 'none'}",
        "Tried: " + ("; ".join(evidence.get("tried") or []) or "nothing"),
    ]
    message.set_content("\n".join(lines) + "\n")
    return message


class AlertActivities:
    """Delivers queued alerts."""

    def __init__(self, db: Database, smtp: SmtpSettings | None = None) -> None:
        self._db = db
        self._smtp = smtp

    @activity.defn(name="deliver_alert")
    async def deliver_alert(self, delivery_id: str) -> str:
        """One attempt; raises (retryable) when the target did not take it."""
        async with self._db.sessions() as session:
            delivery = await session.get(AlertDelivery, delivery_id)
            if delivery is None:
                return "gone"
            if delivery.status != "pending":
                return delivery.status
            rule = await session.get(AlertRule, delivery.rule_id)
            incident = await session.get(Incident, delivery.incident_id)
        if rule is None or incident is None:
            return "gone"
        try:
            if rule.channel == "webhook":
                await self._post(rule, incident, delivery)
            else:
                await self._mail(rule, incident, delivery)
        except Exception as error:
            await self._record(delivery_id, "pending", f"{type(error).__name__}: {error}")
            raise ApplicationError(f"alert {delivery_id} not delivered: {error}") from None
        await self._record(delivery_id, "delivered", None)
        return "delivered"

    async def _post(self, rule: AlertRule, incident: Incident, delivery: AlertDelivery) -> None:
        body = json.dumps(alert_body(incident, delivery.event), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: delivery.id}
        if rule.secret:
            headers[SIGNATURE_HEADER] = sign(rule.secret, int(time.time()), body)
        async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client:
            answer = await client.post(rule.target, content=body, headers=headers)
        if not 200 <= answer.status_code < 300:
            raise RuntimeError(f"HTTP {answer.status_code}")

    async def _mail(self, rule: AlertRule, incident: Incident, delivery: AlertDelivery) -> None:
        smtp = self._smtp
        if smtp is None:
            raise RuntimeError("no SMTP server is configured (CSMS_SMTP_HOST)")
        to = [a.strip() for a in rule.target.split(",") if a.strip()]
        message = email_of(incident, delivery.event, smtp.sender, to)
        message["X-CSMS-Delivery"] = delivery.id

        def send() -> None:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=TIMEOUT_S) as client:
                if smtp.starttls:
                    client.starttls()
                if smtp.username and smtp.password:
                    client.login(smtp.username, smtp.password)
                client.send_message(message)

        await asyncio.to_thread(send)

    @activity.defn(name="give_up_alert")
    async def give_up_alert(self, delivery_id: str) -> None:
        """The attempts ran out: the delivery is failed (the API shows it)."""
        await self._record(delivery_id, "failed", None, attempt=False)

    async def _record(
        self, delivery_id: str, status: str, error: str | None, *, attempt: bool = True
    ) -> None:
        async with self._db.sessions.begin() as session:
            delivery = await session.get(AlertDelivery, delivery_id)
            if delivery is None:
                return
            if attempt:
                delivery.attempts += 1
            delivery.status = status
            if error is not None:
                delivery.last_error = error[:2000]
            if status == "delivered":
                delivery.delivered_at = utcnow()
