"""Monthly invoicing: one ``Invoicing`` workflow per account and period
(``invoice:{account}:{period}``), started by an ``InvoicingRun`` that a Temporal
Schedule fires after each local midnight that begins a month, one schedule per
account time zone (``invoicing:{zone}``).

A run's period comes from the time the schedule meant it to run (Temporal's
``TemporalScheduledStartTime``), so a run caught up after downtime, or a
backfill, still invoices the period it was for. Re-running a period is safe:
issuing is idempotent and the database bills a CDR at most once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ChildWorkflowHandle

with workflow.unsafe.imports_passed_through():
    from activities.billing.invoices import closed_period
    from activities.invoicing import (
        AccountsPage,
        InvoiceSummary,
        InvoicingActivities,
        IssueBatch,
        IssueRequest,
    )
    from activities.payments import PaymentActivities, PaymentOutcome

SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
"""Set by Temporal on every workflow a schedule starts: when it was meant to run."""

ISSUE_TIMEOUT = timedelta(minutes=10)
RENDER_TIMEOUT = timedelta(minutes=5)
PAYMENT_TIMEOUT = timedelta(minutes=2)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


def invoicing_workflow_id(account_id: str, period: str) -> str:
    """The id of one account's invoicing of one period."""
    return f"invoice:{account_id}:{period}"


@dataclass(frozen=True)
class InvoicingRequest:
    """Input of the ``Invoicing`` workflow (``issued``: the invoice a scheduled run
    already issued and rendered with its page, so only the payment is left)."""

    account_id: str
    period: str
    issued: InvoiceSummary | None = None


ISSUED_BY_RUN_PATCH = "invoicing-issued-by-run"
"""Account workflows from here on skip issuing and rendering what their run did."""
LOCAL_COLLECT_PATCH = "invoicing-collects-locally"
"""Account workflows told by their run collect in a local activity from here on."""
LOCAL_PAYMENT_TIMEOUT = timedelta(seconds=30)


@dataclass(frozen=True)
class InvoicingResult:
    """What the workflow did: the invoice (or nothing to bill) and its payment."""

    invoice: InvoiceSummary
    payment: PaymentOutcome | None = None


# Unsandboxed: a month's run starts one per account (10,000 in a few minutes), and
# the sandbox costs each its own set of module imports. It only awaits activities.
@workflow.defn(name="Invoicing", sandboxed=False)
class InvoicingWorkflow:
    """Issues one account's invoice for one period, renders it, and collects it."""

    def __init__(self) -> None:
        self._step = "starting"

    @workflow.query
    def step(self) -> str:
        """Where the run is."""
        return self._step

    def _at(self, request: InvoicingRequest, step: str) -> None:
        self._step = step
        workflow.set_current_details(f"**{request.account_id}** · period {request.period} · {step}")

    @workflow.run
    async def run(self, request: InvoicingRequest) -> InvoicingResult:
        """Issue, render, pay: each step an activity that is safe to repeat."""
        if request.issued is not None and workflow.patched(ISSUED_BY_RUN_PATCH):
            # Issued and rendered with the run's page: only the payment is left.
            summary = request.issued
        else:
            self._at(request, "collecting the period's CDRs and issuing the invoice")
            summary = await workflow.execute_activity_method(
                InvoicingActivities.issue_invoice,
                IssueRequest(request.account_id, request.period, workflow.now()),
                start_to_close_timeout=ISSUE_TIMEOUT,
                retry_policy=RETRY,
            )
            if summary.invoice_id is None:
                self._at(request, "nothing to bill")
                return InvoicingResult(summary)
            self._at(request, f"{summary.number}: rendering the PDF and the CSV")
            await workflow.execute_activity_method(
                InvoicingActivities.render_invoice,
                summary.invoice_id,
                start_to_close_timeout=RENDER_TIMEOUT,
                retry_policy=RETRY,
            )
        assert summary.invoice_id is not None
        self._at(request, f"{summary.number}: collecting the payment")
        if request.issued is not None and workflow.patched(LOCAL_COLLECT_PATCH):
            # Told by its run, the workflow is this one short step: run it within the
            # workflow task, sparing the server an activity task per account.
            payment = await workflow.execute_local_activity_method(
                PaymentActivities.collect_invoice,
                summary.invoice_id,
                start_to_close_timeout=LOCAL_PAYMENT_TIMEOUT,
                retry_policy=RETRY,
            )
        else:
            payment = await workflow.execute_activity_method(
                PaymentActivities.collect_invoice,
                summary.invoice_id,
                start_to_close_timeout=PAYMENT_TIMEOUT,
                retry_policy=RETRY,
            )
        self._at(
            request,
            f"{summary.number}: {summary.currency} {summary.total_incl_vat}, "
            f"{summary.cdr_count} sessions, payment {payment.status}",
        )
        return InvoicingResult(summary, payment)


def _start(request: InvoicingRequest) -> Awaitable[ChildWorkflowHandle[Any, Any]]:
    """Start one account's invoicing as a child that outlives its run."""
    return workflow.start_child_workflow(
        InvoicingWorkflow.run,
        request,
        id=invoicing_workflow_id(request.account_id, request.period),
        parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


@dataclass(frozen=True)
class InvoicingRunInput:
    """Input of ``InvoicingRun``: the accounts' time zone; the period and the cursor
    are set only when it continues as new (or to invoice a given period)."""

    time_zone: str
    period: str | None = None
    after: str = ""
    invoiced: int = 0


PAGE = 200
"""Accounts started together."""
PAGES_PER_RUN = 10
"""Pages before the run continues as new (its history stays small)."""


PIPELINE_PATCH = "invoicing-run-pipelines-pages"
"""Runs from here on issue the next page while the last pages' accounts collect."""

STARTS_TOGETHER_PATCH = "invoicing-run-starts-a-page-together"
"""Runs from here on start a page's account workflows in one workflow task."""

BATCHED_PATCH = "invoicing-run-issues-pages"
"""Runs from here on issue and render each page of invoices themselves first."""

BATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
)


@workflow.defn(name="InvoicingRun")
class InvoicingRunWorkflow:
    """Starts the ``Invoicing`` workflow of every open account in one time zone for
    the period that just ended there, a page of accounts at a time.

    Each page's invoices are first issued in one transaction and rendered in one
    activity, so each account's workflow finds its invoice issued and rendered and
    goes on to the payment: a page costs a few statements instead of a dozen an
    account. Should the page fail, each account's workflow issues its own.
    """

    async def _issue_page(self, page: list[str], period: str) -> dict[str, InvoiceSummary]:
        """The page's invoices issued and rendered, by account (none if it failed)."""
        try:
            summaries = await workflow.execute_activity_method(
                InvoicingActivities.issue_invoices,
                IssueBatch(page, period, workflow.now()),
                start_to_close_timeout=ISSUE_TIMEOUT,
                retry_policy=BATCH_RETRY,
            )
            issued = [summary.invoice_id for summary in summaries if summary.invoice_id]
            if issued:
                await workflow.execute_activity_method(
                    InvoicingActivities.render_invoices,
                    issued,
                    start_to_close_timeout=RENDER_TIMEOUT,
                    retry_policy=BATCH_RETRY,
                )
        except ActivityError as error:
            workflow.logger.warning("a page of %s could not be issued together: %s", period, error)
            return {}
        return {s.account_id: s for s in summaries if s.invoice_id is not None}

    @workflow.run
    async def run(self, given: InvoicingRunInput) -> int:
        """How many accounts' invoicing this run (and its continuations) started."""
        period = given.period
        if period is None:
            scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START)
            period = closed_period(scheduled or workflow.now(), given.time_zone)
        after, started = given.after, given.invoiced
        # From here on a run goes on to the next page while the accounts' workflows
        # of the last ones run, and waits for them all before it continues as new.
        pipelined = workflow.patched(PIPELINE_PATCH)
        running: list[ChildWorkflowHandle[Any, Any]] = []
        for _ in range(PAGES_PER_RUN):
            workflow.set_current_details(
                f"period **{period}** in {given.time_zone} · {started} accounts started"
            )
            page = await workflow.execute_activity_method(
                InvoicingActivities.accounts_to_invoice,
                AccountsPage(given.time_zone, after, PAGE),
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=RETRY,
            )
            if not page:
                await _wait_for(running)
                workflow.set_current_details(
                    f"period **{period}** in {given.time_zone} · done: {started} accounts"
                )
                return started
            done: dict[str, InvoiceSummary] = {}
            if workflow.patched(BATCHED_PATCH):
                done = await self._issue_page(page, period)
            # Each account's workflow is told what its page did, so it only collects.
            told = workflow.patched(ISSUED_BY_RUN_PATCH)

            requests = [
                InvoicingRequest(account_id, period, done.get(account_id) if told else None)
                for account_id in page
            ]
            children: list[ChildWorkflowHandle[Any, Any]] = []
            if workflow.patched(STARTS_TOGETHER_PATCH):
                # The page's starts in one workflow task: awaited one by one, each
                # start costs a task round trip (200 of them a page).
                for outcome in await asyncio.gather(
                    *(_start(request) for request in requests), return_exceptions=True
                ):
                    # A run of the same period (a catch-up) may have it in hand already.
                    if isinstance(outcome, WorkflowAlreadyStartedError):
                        continue
                    if isinstance(outcome, BaseException):
                        raise outcome
                    children.append(outcome)
            else:
                for request in requests:
                    with contextlib.suppress(WorkflowAlreadyStartedError):
                        children.append(await _start(request))
            if pipelined:
                running += children
            else:
                await _wait_for(children)
            started += len(page)
            after = page[-1]
        await _wait_for(running)
        workflow.continue_as_new(replace(given, period=period, after=after, invoiced=started))


async def _wait_for(children: list[ChildWorkflowHandle[Any, Any]]) -> None:
    """Wait for the accounts' workflows; one account's failure (it stays visible as a
    failed workflow) does not hold up the others' invoices."""
    for child in children:
        try:
            await child
        except ChildWorkflowError as error:
            workflow.logger.warning("invoicing %s failed: %s", child.id, error)
