"""The site workflow on the time-skipping server: the 15-minute re-plan, and a run that
continues as new carrying its vehicles (real activities, real database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.persistence.database import Database
from activities.persistence.models import Site, SiteCharging
from deploy.worker import build_worker
from tests.conftest import unique
from workflows.site_charging import SiteChargingWorkflow, SiteState, site_workflow_id
from workflows.smart_charging import SiteSessionEvent


async def test_replans_every_15_minutes_and_continues_as_new_with_its_vehicles(
    time_skipping: WorkflowEnvironment, sqlite_db: Database
) -> None:
    """No event after the first plans: a new plan 15 minutes later anyway. After three
    plans the run continues as new, and the new run still knows the vehicle present."""
    site_id = unique("ts-site")
    async with sqlite_db.sessions.begin() as session:
        session.add(Site(id=site_id, name="x", price_per_kwh=Decimal("0.2"), currency="EUR"))
        await session.flush()
        session.add(
            SiteCharging(
                site_id=site_id,
                config={
                    "connection_kw": 22,
                    "chargers": [{"station_id": "TS-1", "evse_id": 1}],
                    "prices": [{"start_hour": 0, "end_hour": 24, "price_per_kwh": 0.2}],
                },
                enabled=True,
            )
        )
    queue = unique("site-q")
    client = time_skipping.client
    async with build_worker(client, sqlite_db, queue):
        handle = await client.start_workflow(
            SiteChargingWorkflow.run,
            SiteState(site_id, plans_per_run=3),
            id=site_workflow_id(site_id),
            task_queue=queue,
        )
        arrived = SiteSessionEvent(site_id, "TS-1", 1, "tx-1", datetime.now(UTC))
        await handle.signal(SiteChargingWorkflow.vehicle_arrived, arrived)
        first_run = (await handle.describe()).run_id
        await time_skipping.sleep(timedelta(minutes=1))
        settled = await handle.query(SiteChargingWorkflow.plans)
        assert 1 <= settled <= 2  # the start and the arrival (one plan if they coincide)
        # Nothing happens for 15 minutes: the site is planned again anyway.
        await time_skipping.sleep(timedelta(minutes=15))
        current = client.get_workflow_handle(site_workflow_id(site_id))
        assert await current.query(SiteChargingWorkflow.plans) == settled + 1
        # Another quarter hour: past three plans the run continued as new.
        await time_skipping.sleep(timedelta(minutes=15))
        described = await current.describe()
        assert described.run_id != first_run, "the run continued as new"
        assert described.status == WorkflowExecutionStatus.RUNNING
        vehicles = await current.query(SiteChargingWorkflow.vehicles)
        assert [v.key for v in vehicles] == ["TS-1#1"]
        async with sqlite_db.sessions() as session:
            row = await session.get(SiteCharging, site_id)
            assert row is not None and row.last_plan is not None
            assert set(row.last_plan["power_kw"]) == {"TS-1#1"}
        await current.signal(SiteChargingWorkflow.switch_off)
        await current.result()
