"""The Temporal Schedules that start monthly invoicing: one per account time zone.

Each fires at 00:05 on the first of every month in its zone (a minute's margin
after the period's last CDRs settle) and starts ``InvoicingRun`` for that zone.
Runs missed while Temporal was down are caught up (within a month), in order.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
)

from activities.persistence.database import Database
from activities.persistence.models import BillingAccount
from workflows.invoicing import InvoicingRunInput, InvoicingRunWorkflow

log = logging.getLogger(__name__)

CATCH_UP = timedelta(days=31)
"""How far back a run missed during downtime is still made up."""


def schedule_id(time_zone: str) -> str:
    """The id of a time zone's invoicing schedule."""
    return f"invoicing:{time_zone}"


def invoicing_schedule(time_zone: str, task_queue: str) -> Schedule:
    """The schedule of one time zone's monthly invoicing runs."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            InvoicingRunWorkflow.run,
            InvoicingRunInput(time_zone),
            id=f"invoicing-run:{time_zone}",
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_month=[ScheduleRange(1)],
                    hour=[ScheduleRange(0)],
                    minute=[ScheduleRange(5)],
                    comment="monthly invoices, after the local midnight that ends a month",
                )
            ],
            time_zone_name=time_zone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ALL, catchup_window=CATCH_UP),
        state=ScheduleState(note=f"invoicing of the accounts in {time_zone}"),
    )


async def ensure_schedule(client: Client, time_zone: str, task_queue: str) -> bool:
    """Create the zone's schedule unless it exists; True if it was created."""
    try:
        await client.create_schedule(
            schedule_id(time_zone), invoicing_schedule(time_zone, task_queue)
        )
    except ScheduleAlreadyRunningError:
        return False
    log.info("invoicing schedule created for %s", time_zone)
    return True


async def ensure_schedules(client: Client, db: Database, task_queue: str) -> int:
    """A schedule for every time zone an open account is in; how many were created."""
    async with db.sessions() as session:
        zones = (
            await session.scalars(
                select(BillingAccount.time_zone)
                .distinct()
                .where(BillingAccount.closed_at.is_(None))
            )
        ).all()
    created = 0
    for zone in zones:
        created += await ensure_schedule(client, zone, task_queue)
    return created
