"""Webhook deliveries as workflows against a real HTTP endpoint: retried with backoff
until answered and given up after the last attempt (time-skipping server), and
an ended event's report announced to its subscribers (real server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from activities.persistence.database import Database
from activities.persistence.models import DrDelivery, DrSubscription
from activities.persistence.repositories import webhooks
from activities.webhooks import SIGNATURE_HEADER, verify_signature
from deploy.worker import build_worker
from tests.conftest import unique
from tests.helpers import WEBHOOK_KEY, WebhookReceiver, seed_dr_event
from tests.workflows import history_recorder
from workflows.demand_response import DemandResponseWorkflow, DrSchedule, dr_workflow_id
from workflows.webhooks import WebhookDeliveryWorkflow, WebhookRequest, webhook_workflow_id


async def _subscribe(db: Database, client_id: str, url: str, objects: list[str]) -> None:
    async with db.sessions.begin() as session:
        ident = unique("sub")
        session.add(
            DrSubscription(
                id=ident,
                client_id=client_id,
                body={
                    "id": ident,
                    "clientName": "ops",
                    "objectOperations": [
                        {
                            "objects": objects,
                            "operations": ["POST"],
                            "callbackUrl": url,
                            "bearerToken": "tok",
                        }
                    ],
                },
            )
        )


async def _queued(db: Database, url: str) -> str:
    site = unique("site")
    event_id, client_id = await seed_dr_event(db, site, datetime.now(UTC), 15, [5.0])
    await _subscribe(db, client_id, url, ["EVENT"])
    async with db.sessions.begin() as session:
        (delivery,) = await webhooks.queue(
            session,
            client_id=client_id,
            object_type="EVENT",
            operation="POST",
            obj={"id": event_id},
            program_id=event_id,
            targets=[site],
        )
    return delivery.id


async def _row(db: Database, ident: str) -> DrDelivery:
    async with db.sessions() as session:
        row = await session.get(DrDelivery, ident)
    assert row is not None
    return row


async def test_a_delivery_is_retried_with_backoff_until_answered(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    client, queue = time_skipping.client, unique("wh-q")
    with WebhookReceiver([503, 500]) as receiver:
        ident = await _queued(sqlite_db, receiver.url)
        async with build_worker(client, sqlite_db, queue):
            handle = await client.start_workflow(
                WebhookDeliveryWorkflow.run,
                WebhookRequest(ident, first_retry_s=30),
                id=webhook_workflow_id(ident),
                task_queue=queue,
            )
            assert await handle.result() == "delivered"
            await history_recorder.keep(handle)
    assert len(receiver.calls) == 3
    # The same delivery id on every try, each signed afresh.
    assert len({c.headers["X-CSMS-Delivery"] for c in receiver.calls}) == 1
    assert all(
        verify_signature(WEBHOOK_KEY, c.headers[SIGNATURE_HEADER], c.body) for c in receiver.calls
    )
    row = await _row(sqlite_db, ident)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 3, 200)


async def test_a_delivery_gives_up_after_its_last_attempt(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    client, queue = time_skipping.client, unique("wh-q")
    with WebhookReceiver([500, 500, 500, 500]) as receiver:
        ident = await _queued(sqlite_db, receiver.url)
        async with build_worker(client, sqlite_db, queue):
            handle = await client.start_workflow(
                WebhookDeliveryWorkflow.run,
                WebhookRequest(ident, first_retry_s=10, attempts=3),
                id=webhook_workflow_id(ident),
                task_queue=queue,
            )
            assert await handle.result() == "failed"
            await history_recorder.keep(handle)
    assert len(receiver.calls) == 3
    row = await _row(sqlite_db, ident)
    assert (row.status, row.attempts, row.last_error) == ("failed", 3, "HTTP 500")


async def test_an_ended_events_report_is_announced_to_its_subscribers(
    temporal_dev: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """On a real server in real time (the time-skipping one stops skipping for good
    once a workflow has started a child it abandons): a two-second event."""
    client, queue, site = temporal_dev.client, unique("dr-q"), unique("site")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    event_id, client_id = await seed_dr_event(sqlite_db, site, start, 1, [20.0])
    with WebhookReceiver() as receiver:
        await _subscribe(sqlite_db, client_id, receiver.url + "/reports", ["REPORT"])
        async with build_worker(client, sqlite_db, queue):
            handle = await client.start_workflow(
                DemandResponseWorkflow.run,
                DrSchedule(event_id, [site], [start, start + timedelta(seconds=2)], ramp_s=1.0),
                id=dr_workflow_id(event_id),
                task_queue=queue,
            )
            assert await handle.result() == "reported"
            report_id = (await handle.query(DemandResponseWorkflow.progress)).report_id
            (call,) = await receiver.wait_for(1)
            # Its delivery's workflow finishes here (the answer recorded), not after the
            # worker is gone.
            async with sqlite_db.sessions() as session:
                (delivery_id,) = await webhooks.of_object(session, "REPORT", str(report_id))
            delivery = client.get_workflow_handle(webhook_workflow_id(delivery_id))
            assert await delivery.result() == "delivered"
            await history_recorder.keep(handle)
    assert call.path == "/reports" and call.headers["Authorization"] == "Bearer tok"
    sent = call.json()
    assert (sent["objectType"], sent["operation"]) == ("REPORT", "POST")
    assert sent["object"]["id"] == report_id and sent["object"]["eventID"] == event_id
    assert sent["targets"] == [site]
    assert verify_signature(WEBHOOK_KEY, call.headers[SIGNATURE_HEADER], call.body)
