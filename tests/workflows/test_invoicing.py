"""Invoicing on a real Temporal server: the schedule fires at local month end in the
account's time zone, a run (here a backfill: a run the schedule missed, made up)
invoices the period it was meant for, and a retried run issues nothing twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import ScheduleBackfill, ScheduleOverlapPolicy, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.invoicing_schedules import ensure_schedule, schedule_id
from activities.persistence.database import Database
from activities.persistence.models import BillingAccount, ChargeDetailRecordRow
from activities.persistence.repositories import invoices
from deploy.worker import build_worker
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction
from workflows.invoicing import (
    InvoicingRequest,
    InvoicingRunInput,
    InvoicingRunWorkflow,
    InvoicingWorkflow,
    invoicing_workflow_id,
)

# UTC+13:45 in its summer: a local midnight no whole-hour rule would hit.
ZONE = "Pacific/Chatham"


async def _account_with_cdr(
    db: Database, stopped_at: datetime, total: str = "12.10", *, lines_vat: str | None = None
) -> tuple[str, str]:
    """An account in ZONE (and its operator) with one CDR, written as settlement would
    (``lines_vat``: its cost line's VAT, as no settlement writes it)."""
    account_id, operator, station = unique("acct"), unique("op"), unique("CP")
    await seed_station(db, station)
    start = await seed_transaction(
        db, station, site_id=None, meter_start_wh=0, started_at=stopped_at - timedelta(hours=1)
    )
    assert start.transaction_pk is not None
    tx = start.transaction_pk
    async with db.sessions.begin() as session:
        session.add(
            BillingAccount(
                id=account_id,
                name="Chatham Fleet",
                kind="fleet",
                customer_group="fleet",
                operator=operator,
                address={"line1": "1 Wharf Rd", "city": "Waitangi", "country": "NZ"},
                currency="NZD",
                payment_terms_days=20,
                grouping="session",
                language="en",
                time_zone=ZONE,
                payment_provider="invoice",
                credit_limit=Decimal(0),
            )
        )
        await session.flush()
        session.add(
            ChargeDetailRecordRow(
                transaction_pk=tx,
                transaction_ref=str(tx),
                station_id=station,
                site_id=None,
                connector_id=1,
                started_at=stopped_at - timedelta(hours=1),
                stopped_at=stopped_at,
                energy_wh=20_000,
                price_per_kwh=Decimal("0.50"),
                currency="NZD",
                total_cost=Decimal(total),
                total_excl_vat=Decimal("10.00"),
                total_vat=Decimal(total) - Decimal("10.00"),
                cost_lines=[
                    {
                        "dimension": "ENERGY",
                        "vat_rate": "21",
                        "excl_vat": "10.00",
                        "vat": lines_vat or str(Decimal(total) - Decimal("10.00")),
                    }
                ],
                account_id=account_id,
                notes=[],
            )
        )
    return account_id, operator


def _next_month_start(now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo(ZONE))
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, 0, 5, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)


async def test_the_schedule_fires_at_local_month_end_and_a_missed_run_is_made_up(
    temporal_dev: WorkflowEnvironment, sqlite_db: Database
) -> None:
    client, queue = temporal_dev.client, unique("inv-q")
    # A November session ending at 23:30 local on 30 November (09:45 UTC): half an
    # hour later it would be December's.
    account_id, operator = await _account_with_cdr(
        sqlite_db, datetime(2026, 11, 30, 9, 45, tzinfo=UTC)
    )
    assert await ensure_schedule(client, ZONE, queue)
    assert not await ensure_schedule(client, ZONE, queue)  # once
    handle = client.get_schedule_handle(schedule_id(ZONE))
    try:
        described = await handle.describe()
        # Temporal itself computes the next firing: 00:05 on the 1st, Chatham time.
        assert described.info.next_action_times[0] == _next_month_start(datetime.now(UTC))
        async with build_worker(client, sqlite_db, queue):
            # The run due at 00:05 on 1 December local (10:20 UTC on 30 November),
            # made up as after downtime: it invoices November.
            due = datetime(2026, 12, 1, 0, 5, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)
            await handle.backfill(
                ScheduleBackfill(
                    due - timedelta(seconds=1),
                    due + timedelta(seconds=1),
                    overlap=ScheduleOverlapPolicy.ALLOW_ALL,
                )
            )
            child = client.get_workflow_handle_for(
                InvoicingWorkflow.run, invoicing_workflow_id(account_id, "2026-11")
            )
            for _ in range(200):
                try:
                    result = await child.result()
                    break
                except Exception:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("the backfilled run did not invoice November")
            # Issued and rendered by the run with the rest of its page: the account's
            # own workflow, told so, only collected it, in a local activity (no
            # activity task at all).
            assert result.invoice.cdr_count == 1 and result.invoice.issued_now
            events = [event async for event in child.fetch_history_events()]
            assert not any(e.HasField("activity_task_scheduled_event_attributes") for e in events)
            markers = [
                e.marker_recorded_event_attributes.marker_name
                for e in events
                if e.HasField("marker_recorded_event_attributes")
            ]
            assert markers.count("core_local_activity") == 1
            # Issued now (December 2026 in Chatham): the year's first number.
            assert result.invoice.number == f"{operator.upper()}-2026-000001"
            assert result.payment is not None and result.payment.status == "open"
    finally:
        await handle.delete()
    async with sqlite_db.sessions() as session:
        invoice = await invoices.find_invoice(session, account_id, "2026-11")
        assert invoice is not None and invoice.total_incl_vat == Decimal("12.10")
        assert await invoices.document(session, invoice.id, "pdf") is not None


async def test_a_retried_run_issues_nothing_twice(
    temporal_dev: WorkflowEnvironment, sqlite_db: Database
) -> None:
    client, queue = temporal_dev.client, unique("inv-q")
    account_id, _ = await _account_with_cdr(sqlite_db, datetime(2026, 10, 15, tzinfo=UTC), "11.00")
    workflow_id = invoicing_workflow_id(account_id, "2026-10")
    async with build_worker(client, sqlite_db, queue):
        first = await client.execute_workflow(
            InvoicingWorkflow.run,
            InvoicingRequest(account_id, "2026-10"),
            id=workflow_id,
            task_queue=queue,
        )
        second = await client.execute_workflow(
            InvoicingWorkflow.run,
            InvoicingRequest(account_id, "2026-10"),
            id=workflow_id,
            task_queue=queue,
        )
        nothing = await client.execute_workflow(
            InvoicingWorkflow.run,
            InvoicingRequest(account_id, "2026-09"),
            id=invoicing_workflow_id(account_id, "2026-09"),
            task_queue=queue,
        )
        step = await client.get_workflow_handle(workflow_id).query(InvoicingWorkflow.step)
    assert first.invoice.issued_now and not second.invoice.issued_now
    assert first.invoice.invoice_id == second.invoice.invoice_id
    assert nothing.invoice.invoice_id is None  # September had nothing
    assert "payment open" in step


async def test_a_run_issues_its_page_and_one_bad_account_fails_alone(
    temporal_dev: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """A run over a time zone's accounts issues each page together; an account whose
    CDRs do not add up fails its own workflow (not retried: CDRs do not change), and
    the run still ends with every other account invoiced."""
    client, queue = temporal_dev.client, unique("inv-q")
    october = datetime(2026, 10, 12, tzinfo=UTC)
    good, _ = await _account_with_cdr(sqlite_db, october)
    # Its CDR's totals one cent above its own cost lines.
    broken, _ = await _account_with_cdr(sqlite_db, october, lines_vat="2.09")
    async with build_worker(client, sqlite_db, queue):
        started = await client.execute_workflow(
            InvoicingRunWorkflow.run,
            InvoicingRunInput(ZONE, period="2026-10"),
            id=unique("invoicing-run"),
            task_queue=queue,
        )
        assert started >= 2
        done = await client.get_workflow_handle_for(
            InvoicingWorkflow.run, invoicing_workflow_id(good, "2026-10")
        ).result()
        with pytest.raises(WorkflowFailureError) as failed:
            await client.get_workflow_handle_for(
                InvoicingWorkflow.run, invoicing_workflow_id(broken, "2026-10")
            ).result()
    assert done.invoice.cdr_count == 1 and done.invoice.issued_now
    activity_failure = failed.value.cause
    assert isinstance(activity_failure, ActivityError)
    cause = activity_failure.cause
    assert isinstance(cause, ApplicationError) and cause.type == "CdrsNotInvoiceable"
    async with sqlite_db.sessions() as session:
        assert await invoices.find_invoice(session, broken, "2026-10") is None
        invoice = await invoices.find_invoice(session, good, "2026-10")
        assert invoice is not None
        assert await invoices.document(session, invoice.id, "csv") is not None
