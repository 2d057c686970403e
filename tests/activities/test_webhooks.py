"""Webhook deliveries: which subscriptions a change reaches, the signed call a real
HTTP endpoint receives, and what each attempt leaves in the delivery's row."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.persistence.database import Database
from activities.persistence.models import DrDelivery, DrReport, DrSubscription
from activities.persistence.repositories import webhooks
from activities.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    WebhookActivities,
    sign,
    verify_signature,
)
from tests.conftest import unique
from tests.helpers import WEBHOOK_KEY, WebhookReceiver, seed_dr_event


def test_a_signature_verifies_and_tampering_or_staleness_fails() -> None:
    body = b'{"objectType":"EVENT"}'
    now = int(time.time())
    header = sign("key", now, body)
    assert verify_signature("key", header, body)
    assert not verify_signature("other key", header, body)
    assert not verify_signature("key", header, body + b" ")
    assert not verify_signature("key", header.replace(f"t={now}", f"t={now + 1}"), body)
    # A call captured and replayed ten minutes later is refused.
    assert not verify_signature("key", header, body, now=now + 600)
    assert not verify_signature("key", "garbage", body)


async def _subscription(
    db: Database,
    client_id: str,
    url: str,
    *,
    objects: list[str],
    operations: list[str],
    program_id: str | None = None,
    targets: list[str] | None = None,
    token: str | None = "subscriber-token",
) -> str:
    ident = unique("sub")
    async with db.sessions.begin() as session:
        session.add(
            DrSubscription(
                id=ident,
                client_id=client_id,
                program_id=program_id,
                body={
                    "id": ident,
                    "clientName": "ops",
                    "programID": program_id,
                    "targets": targets,
                    "objectOperations": [
                        {
                            "objects": objects,
                            "operations": operations,
                            "callbackUrl": url,
                            "bearerToken": token,
                        }
                    ],
                },
            )
        )
    return ident


async def _queue(
    db: Database, client_id: str, operation: str, program_id: str, targets: list[str]
) -> list[DrDelivery]:
    async with db.sessions.begin() as session:
        added = await webhooks.queue(
            session,
            client_id=client_id,
            object_type="EVENT",
            operation=operation,
            obj={"id": "e1", "objectType": "EVENT"},
            program_id=program_id,
            targets=targets,
        )
    return added


async def test_a_change_reaches_the_subscriptions_that_asked_for_it(sqlite_db: Database) -> None:
    site = unique("site")
    event_id, client_id = await seed_dr_event(sqlite_db, site, datetime.now(UTC), 15, [5.0])
    other_event, other_client = await seed_dr_event(sqlite_db, site, datetime.now(UTC), 15, [5.0])
    everything = await _subscription(
        sqlite_db, client_id, "http://a.test/all", objects=["EVENT"], operations=["POST", "PUT"]
    )
    await _subscription(
        sqlite_db, client_id, "http://a.test/del", objects=["EVENT"], operations=["DELETE"]
    )
    await _subscription(
        sqlite_db, client_id, "http://a.test/reports", objects=["REPORT"], operations=["POST"]
    )
    of_program = await _subscription(
        sqlite_db,
        client_id,
        "http://a.test/program",
        objects=["EVENT"],
        operations=["POST"],
        program_id=event_id,  # seed_dr_event names its program as its event
    )
    await _subscription(
        sqlite_db,
        client_id,
        "http://a.test/elsewhere",
        objects=["EVENT"],
        operations=["POST"],
        targets=["another-site"],
    )
    await _subscription(
        sqlite_db, other_client, "http://b.test/", objects=["EVENT"], operations=["POST"]
    )
    created = await _queue(sqlite_db, client_id, "POST", event_id, [site])
    mine = [d.id for d in created]
    assert {d.subscription_id for d in created} == {everything, of_program}
    assert {d.callback_url for d in created} == {"http://a.test/all", "http://a.test/program"}
    assert all(d.payload["object"]["id"] == "e1" for d in created)
    # Of another program: not the program's subscription.
    changed = await _queue(sqlite_db, client_id, "PUT", other_event, [])
    assert [d.subscription_id for d in changed] == [everything]
    elsewhere = await _queue(sqlite_db, client_id, "POST", other_event, [site])
    assert {d.callback_url for d in elsewhere} == {"http://a.test/all"}
    mine += [d.id for d in changed + elsewhere]
    # Nobody started them: the sweeper's to start.
    async with sqlite_db.sessions() as session:
        pending = await webhooks.unstarted(
            session, datetime.now(UTC) + timedelta(seconds=1), limit=10_000
        )
    assert set(mine) <= set(pending) and len(mine) == 4


async def _one_delivery(db: Database, url: str, token: str | None = "subscriber-token") -> str:
    site = unique("site")
    event_id, client_id = await seed_dr_event(db, site, datetime.now(UTC), 15, [5.0])
    await _subscription(db, client_id, url, objects=["EVENT"], operations=["POST"], token=token)
    (delivery,) = await _queue(db, client_id, "POST", event_id, [site])
    return delivery.id


async def _row(db: Database, delivery_id: str) -> DrDelivery:
    async with db.sessions() as session:
        row = await session.get(DrDelivery, delivery_id)
    assert row is not None
    return row


async def test_a_delivery_is_signed_carries_the_token_and_is_recorded(
    sqlite_db: Database,
) -> None:
    with WebhookReceiver() as receiver:
        delivery_id = await _one_delivery(sqlite_db, receiver.url + "/hook")
        status = await ActivityEnvironment().run(
            WebhookActivities(sqlite_db).deliver_webhook, delivery_id
        )
    assert status == "delivered"
    (call,) = receiver.calls
    assert call.path == "/hook"
    assert call.headers["Authorization"] == "Bearer subscriber-token"
    assert call.headers[DELIVERY_HEADER] == delivery_id
    assert verify_signature(WEBHOOK_KEY, call.headers[SIGNATURE_HEADER], call.body)
    sent = call.json()
    assert (sent["objectType"], sent["operation"]) == ("EVENT", "POST")
    assert sent["object"] == {"id": "e1", "objectType": "EVENT"}
    assert len(sent["targets"]) == 1
    row = await _row(sqlite_db, delivery_id)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)
    assert row.delivered_at is not None
    # Delivered once: a retried activity does not call again.
    again = await ActivityEnvironment().run(
        WebhookActivities(sqlite_db).deliver_webhook, delivery_id
    )
    assert again == "delivered" and len(receiver.calls) == 1


async def test_a_failing_callback_is_retried_and_gone_stops_it(sqlite_db: Database) -> None:
    with WebhookReceiver([503, 410]) as receiver:
        delivery_id = await _one_delivery(sqlite_db, receiver.url, token=None)
        activities = WebhookActivities(sqlite_db)
        with pytest.raises(ApplicationError, match="HTTP 503"):
            await ActivityEnvironment().run(activities.deliver_webhook, delivery_id)
        row = await _row(sqlite_db, delivery_id)
        assert (row.status, row.last_status_code, row.last_error) == ("pending", 503, "HTTP 503")
        assert await ActivityEnvironment().run(activities.deliver_webhook, delivery_id) == "failed"
    assert "Authorization" not in receiver.calls[0].headers  # none given, none sent
    row = await _row(sqlite_db, delivery_id)
    assert (row.status, row.last_status_code) == ("failed", 410)


async def test_an_unreachable_callback_and_a_deleted_subscription(sqlite_db: Database) -> None:
    with WebhookReceiver() as receiver:
        url = receiver.url
    delivery_id = await _one_delivery(sqlite_db, url)  # the server is gone
    activities = WebhookActivities(sqlite_db)
    with pytest.raises(ApplicationError, match="no answer"):
        await ActivityEnvironment().run(activities.deliver_webhook, delivery_id)
    row = await _row(sqlite_db, delivery_id)
    assert row.status == "pending" and row.last_status_code is None
    assert row.last_error and "subscriber-token" not in row.last_error
    async with sqlite_db.sessions.begin() as session:
        subscription = await session.get(DrSubscription, row.subscription_id)
        await session.delete(subscription)
    assert await ActivityEnvironment().run(activities.deliver_webhook, delivery_id) == "failed"
    assert (await _row(sqlite_db, delivery_id)).last_error == "subscription deleted"


async def test_a_report_is_announced_once(sqlite_db: Database) -> None:
    site = unique("site")
    event_id, client_id = await seed_dr_event(sqlite_db, site, datetime.now(UTC), 15, [5.0])
    await _subscription(
        sqlite_db, client_id, "http://a.test/r", objects=["REPORT"], operations=["POST"]
    )
    report_id = unique("rep")
    async with sqlite_db.sessions.begin() as session:
        session.add(
            DrReport(
                id=report_id,
                client_id=client_id,
                event_id=event_id,
                program_id=event_id,
                body={"id": report_id, "resources": [{"resourceName": site, "intervals": []}]},
            )
        )
    activities = WebhookActivities(sqlite_db)
    first = await ActivityEnvironment().run(activities.queue_report_notifications, report_id)
    again = await ActivityEnvironment().run(activities.queue_report_notifications, report_id)
    assert len(first) == 1 and again == first
    row = await _row(sqlite_db, first[0])
    assert row.object_type == "REPORT" and row.started_at is not None
    assert row.payload["object"]["id"] == report_id


async def test_a_31_subscription_hears_of_changes_in_its_own_words(sqlite_db: Database) -> None:
    """OpenADR 3.1 says CREATE, UPDATE, DELETE where 3.0.1 says POST, PUT, DELETE."""
    site = unique("site")
    event_id, client_id = await seed_dr_event(sqlite_db, site, datetime.now(UTC), 15, [5.0])
    await _subscription(
        sqlite_db, client_id, "http://a.test/31", objects=["EVENT"], operations=["CREATE"]
    )
    (created,) = await _queue(sqlite_db, client_id, "POST", event_id, [site])
    assert created.payload["operation"] == "CREATE" and created.operation == "POST"
    assert await _queue(sqlite_db, client_id, "PUT", event_id, [site]) == []
