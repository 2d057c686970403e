"""An ad-hoc session paid by card, on a real Temporal server with the real worker:
the hold is placed before the session, the session's settlement claims it with
the CDR, and the CDR's total is captured (Stripe's side is the stand-in answering
with Stripe's recorded shapes)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.payments.stripe_adapter import HoldRequest
from activities.persistence.database import Database
from activities.persistence.repositories import payment_holds, reconciliation
from deploy.worker import build_worker
from tests.activities.payments.stripe_standin import StripeStandIn
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction
from workflows.charging_session import ChargingSessionWorkflow
from workflows.domain import ChargeDetailRecord, SessionStopped, session_workflow_id
from workflows.payment_hold import (
    PaymentHoldResult,
    PaymentHoldWorkflow,
    payment_hold_workflow_id,
)


@pytest.fixture
def stripe_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeStandIn]:
    with StripeStandIn() as standin:
        monkeypatch.setenv("CSMS_STRIPE_API_KEY", "sk_test_standin")
        monkeypatch.setenv("CSMS_STRIPE_API_BASE", standin.url)
        yield standin


async def _session(
    env: WorkflowEnvironment,
    db: Database,
    station: str,
    token: str,
    queue: str,
    kwh: int,
    connector: int,
) -> ChargeDetailRecord:
    """A session of ``token`` on ``station``, from start to CDR, as the gateway runs it."""
    started = datetime.now(UTC).replace(microsecond=0)
    start = await seed_transaction(
        db,
        station,
        site_id="site-adhoc",
        meter_start_wh=0,
        started_at=started,
        id_token=token,
        connector_id=connector,
    )
    handle = await env.client.start_workflow(
        ChargingSessionWorkflow.run,
        start,
        id=session_workflow_id(station, start.transaction_id),
        task_queue=queue,
        start_signal="started",
        start_signal_args=[start],
    )
    await handle.signal(
        ChargingSessionWorkflow.stopped,
        SessionStopped(start.transaction_id, kwh * 1000, started + timedelta(minutes=40), "Local"),
    )
    cdr: ChargeDetailRecord | None = await handle.result()
    assert cdr is not None
    return cdr


async def _held(
    client: Client, db: Database, key: str, station: str, token: str, queue: str
) -> WorkflowHandle[PaymentHoldWorkflow, PaymentHoldResult]:
    """A hold of 40.00 for the next session of ``token`` on ``station``, once it waits."""
    hold = await client.start_workflow(
        PaymentHoldWorkflow.run,
        HoldRequest(key, "40.00", "EUR", "pm_card_visa", station_id=station, id_token=token),
        id=payment_hold_workflow_id(key),
        task_queue=queue,
    )
    for _ in range(100):
        async with db.sessions() as session:
            waiting = await payment_holds.get(session, key)
        if waiting is not None and await hold.query(PaymentHoldWorkflow.state) == "held":
            return hold
        await asyncio.sleep(0.1)
    raise AssertionError("the hold never waited for its session")


async def test_an_ad_hoc_session_is_captured_from_the_hold_placed_for_it(
    temporal_dev: WorkflowEnvironment, sqlite_db: Database, stripe_api: StripeStandIn
) -> None:
    station, queue, key = unique("CP"), unique("adhoc-q"), unique("adhoc")
    token = unique("QR")[:20]
    await seed_station(sqlite_db, station, site_id="site-adhoc", price="0.40")
    client = temporal_dev.client
    async with build_worker(client, sqlite_db, queue):
        hold = await _held(client, sqlite_db, key, station, token, queue)
        # Another driver's session on the same station does not touch it.
        other = await _session(temporal_dev, sqlite_db, station, unique("RF")[:20], queue, 3, 1)
        assert other.payment_hold is None
        cdr = await _session(temporal_dev, sqlite_db, station, token, queue, 25, 2)
        assert cdr.payment_hold == key and cdr.total_cost == "10.00"  # 25 kWh x 0.40
        result = await hold.result()
        # The same token again later: the hold is spent, nothing to capture from.
        again = await _session(temporal_dev, sqlite_db, station, token, queue, 5, 3)
    assert again.payment_hold is None
    assert result.outcome == "captured" and result.capture is not None
    assert result.capture.amount == "10.00"
    captures = [call for call in stripe_api.calls if call[1].endswith("/capture")]
    assert len(captures) == 1
    async with sqlite_db.sessions() as session:
        row = await payment_holds.get(session, key)
    assert row is not None and row.state == "closed" and row.cdr_id is not None


async def test_a_session_whose_hold_is_gone_goes_to_reconciliation(
    temporal_dev: WorkflowEnvironment, sqlite_db: Database, stripe_api: StripeStandIn
) -> None:
    """The hold's workflow ended by hand before its session settled: the session
    still claims the hold, nothing can capture the total, and the CDR is put before
    an operator instead of being left unpaid in silence."""
    station, queue, key = unique("CP"), unique("adhoc-q"), unique("adhoc")
    token = unique("QR")[:20]
    await seed_station(sqlite_db, station, site_id="site-adhoc", price="0.40")
    client = temporal_dev.client
    async with build_worker(client, sqlite_db, queue):
        hold = await _held(client, sqlite_db, key, station, token, queue)
        await hold.terminate("ended by an operator")
        cdr = await _session(temporal_dev, sqlite_db, station, token, queue, 10, 1)
    assert cdr.payment_hold == key
    async with sqlite_db.sessions() as session:
        items = await reconciliation.list_items(session, station_id=station)
    missed = [item for item in items if item.kind == "PaymentHoldMissed"]
    assert len(missed) == 1 and missed[0].payload["payment_hold"] == key
    assert missed[0].payload["total_cost"] == "4.00"
