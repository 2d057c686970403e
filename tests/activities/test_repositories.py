"""Repositories on SQLite, and on PostgreSQL when CSMS_TEST_DATABASE_URL is set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.exc import IntegrityError

from activities.persistence.database import Database, async_url
from activities.persistence.models import IdToken, Site, Transaction
from activities.persistence.repositories import (
    id_tokens,
    meter_samples,
    outbox,
    reconciliation,
    registry,
    sites,
    stations,
    transactions,
)
from tests.conftest import unique
from tests.helpers import seed_station, seed_transaction
from workflows.domain import (
    AuthorizationStatus,
    ConnectorStatus,
    StationIdentity,
    own_session_workflow_id,
    remote_session_workflow_id,
    session_workflow_id,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_database_urls_get_async_drivers() -> None:
    assert async_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert async_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert async_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(ValueError, match="unsupported"):
        async_url("mysql://u@h/db")


async def test_sites_keep_exact_decimal_prices(db: Database) -> None:
    site_id = unique("site")
    async with db.sessions.begin() as session:
        await sites.create_site(session, site_id, "Depot", Decimal("0.123456"), "eur")
    async with db.sessions() as session:
        site = await sites.get_site(session, site_id)
    assert site is not None and site.price_per_kwh == Decimal("0.123456")
    assert site.currency == "EUR"
    with pytest.raises(IntegrityError):
        async with db.sessions.begin() as session:
            session.add(Site(id=site_id, name="dup", price_per_kwh=Decimal(1), currency="EUR"))


async def test_timestamps_come_back_timezone_aware_utc(db: Database) -> None:
    station = unique("CP")
    await seed_station(db, station)
    local = datetime(2026, 3, 1, 9, 30, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Berlin")
    )
    async with db.sessions.begin() as session:
        await stations.set_connector_status(
            session,
            station,
            ConnectorStatus(
                evse_id=1, connector_id=1, status="Available", at=local, error_code="NoError"
            ),
        )
    async with db.sessions() as session:
        row = await stations.get_station(session, station)
    assert row is not None
    assert row.connectors[0].status_at == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert row.connectors[0].status_at.tzinfo is not None


async def test_start_transaction_is_idempotent_and_ids_are_unique(db: Database) -> None:
    station = unique("CP")
    await seed_station(db, station)
    args = dict(
        station_id=station,
        site_id=None,
        connector_id=1,
        id_token="TAG",
        meter_start_wh=100,
        started_at=T0,
        ocpp_version="1.6",
    )
    async with db.sessions.begin() as session:
        first = await transactions.start_transaction(session, **args)  # type: ignore[arg-type]
    async with db.sessions.begin() as session:
        again = await transactions.start_transaction(session, **args)  # type: ignore[arg-type]
        later = {**args, "started_at": T0 + timedelta(seconds=1)}
        other = await transactions.start_transaction(session, **later)  # type: ignore[arg-type]
    assert first.created and not again.created and other.created
    assert again.transaction.id == first.transaction.id
    assert other.transaction.id != first.transaction.id
    assert first.transaction.transaction_ref == str(first.transaction.id)
    async with db.sessions.begin() as session:
        tx = await transactions.get_by_ref(session, station, str(first.transaction.id))
        assert tx is not None
        assert await transactions.record_stop(tx, meter_stop_wh=500, stopped_at=T0, reason=None)
        assert not await transactions.record_stop(tx, meter_stop_wh=900, stopped_at=T0, reason=None)
        assert tx.meter_stop_wh == 500
    async with db.sessions() as session:
        listed = await transactions.list_transactions(session, station_id=station, status="active")
    assert [t.id for t in listed] == [other.transaction.id]


async def test_token_standing(db: Database) -> None:
    now = datetime.now(UTC)
    tag = unique("T")[:20]
    async with db.sessions.begin() as session:
        session.add(IdToken(id_token=tag, status="accepted", expires_at=now + timedelta(days=1)))
    async with db.sessions() as session:
        row = await id_tokens.get_token(session, tag)
        missing = await id_tokens.get_token(session, "nobody")
    assert id_tokens.status_of(row, now) is AuthorizationStatus.ACCEPTED
    assert id_tokens.status_of(row, now + timedelta(days=2)) is AuthorizationStatus.EXPIRED
    assert id_tokens.status_of(missing, now) is AuthorizationStatus.UNKNOWN
    assert row is not None
    row.status = "blocked"
    assert id_tokens.status_of(row, now) is AuthorizationStatus.BLOCKED


async def test_samples_batch_and_energy_range(db: Database) -> None:
    station = unique("CP")
    await seed_station(db, station)
    async with db.sessions.begin() as session:
        tx = (
            await transactions.start_transaction(
                session,
                station_id=station,
                site_id=None,
                connector_id=1,
                id_token="T",
                meter_start_wh=0,
                started_at=T0,
                ocpp_version="1.6",
            )
        ).transaction
    rows = [
        {
            "transaction_pk": tx.id,
            "station_id": station,
            "connector_id": 1,
            "sampled_at": T0 + timedelta(minutes=i),
            "measurand": m,
            "phase": phase,
            "location": None,
            "context": None,
            "unit": "Wh",
            "value": v,
        }
        for i, (m, phase, v) in enumerate(
            [
                ("Energy.Active.Import.Register", None, 100.0),
                ("Energy.Active.Import.Register", "L1", 99_999.0),  # per phase: ignored
                ("Energy.Active.Import.Register", None, 700.0),
                ("Power.Active.Import", None, 11_000.0),
            ]
        )
    ]
    async with db.sessions.begin() as session:
        assert await meter_samples.add_samples(session, rows) == 4
    async with db.sessions() as session:
        assert await meter_samples.energy_register_range(session, tx.station_id, tx.id) == (
            100.0,
            700.0,
        )
        assert len(await meter_samples.samples_for(session, tx.station_id, tx.id)) == 4


async def test_registry_forgets_only_the_connection_it_was_told(db: Database) -> None:
    station = unique("CP")
    async with db.sessions.begin() as session:
        # Two connections of one station in one batch: the later wins.
        await registry.register(
            session,
            [
                registry.Registration(station, "a", "c1", "1.6", None, T0),
                registry.Registration(station, "b", "c2", "1.6", None, T0),
            ],
        )
        # the replaced socket closing late
        await registry.unregister(session, [registry.Departure(station, "c1")])
    async with db.sessions() as session:
        live = await registry.connections(session, [station])
    assert live[station].node_id == "b"
    async with db.sessions.begin() as session:
        await registry.clear_node(session, "b")
    async with db.sessions() as session:
        assert await registry.connections(session, [station]) == {}


async def test_admissions_and_boots_answer_each_station_of_a_batch(db: Database) -> None:
    known, other, missing = unique("CP"), unique("CP"), unique("CP")
    await seed_station(db, known, site_id=unique("site"))
    await seed_station(db, other)
    async with db.sessions() as session:
        found = await stations.admissions(session, [missing, known, other, known])
    assert found[0] is None
    assert found[1] is not None and found[1].id == known and found[1].site_id is not None
    assert found[2] is not None and found[2].registration_status == "accepted"
    assert found[3] == found[1]
    identity = StationIdentity("V", "M", "S1", "1.0", "2.0.1")
    async with db.sessions.begin() as session:
        answers = await stations.record_boot(
            session,
            [stations.Boot(known, identity, T0), stations.Boot(missing, identity, T0)],
        )
    assert answers == [("accepted", found[1].site_id, None), None]
    async with db.sessions() as session:
        row = await stations.get_station(session, known)
    assert row is not None and (row.vendor, row.ocpp_version, row.last_boot_at) == (
        "V",
        "2.0.1",
        T0,
    )


async def test_outbox_pending_and_delivery(db: Database) -> None:
    wf = unique("session:x")
    async with db.sessions.begin() as session:
        a = outbox.enqueue(session, node_id="n", kind="k", workflow_id=wf, payload={"a": 1})
        b = outbox.enqueue(session, node_id="n", kind="k", workflow_id=wf, payload={"b": 2})
    async with db.sessions.begin() as session:
        await outbox.remove_delivered(session, [a.id])
        await outbox.mark_failed(session, b.id, "boom")
    async with db.sessions() as session:
        pending = [e for e in await outbox.pending(session, limit=10_000) if e.workflow_id == wf]
        older = await outbox.pending(session, created_before=b.created_at, limit=10_000)
    assert [(e.id, e.attempts, e.last_error, e.payload) for e in pending] == [
        (b.id, 1, "boom", {"b": 2})
    ]
    assert b.id not in [e.id for e in older]


async def test_reconciliation_inbox(db: Database) -> None:
    station = unique("CP")
    async with db.sessions.begin() as session:
        reconciliation.add_item(
            session,
            station_id=station,
            kind="StopTransaction",
            payload={"transactionId": 5},
            note="unknown",
        )
    async with db.sessions() as session:
        items = await reconciliation.list_items(session, station_id=station)
    assert [(i.kind, i.payload) for i in items] == [("StopTransaction", {"transactionId": 5})]


async def test_remote_start_claim_and_expiry_decide_once(db: Database) -> None:
    """Whichever comes first, the charger's transaction (claim) or the workflow giving up
    (expire), wins; the other sees it."""
    from activities.persistence.repositories import remote_starts

    station = unique("RSX")
    await seed_station(db, station)
    start = await seed_transaction(db, station, site_id=None)
    now = datetime.now(UTC)
    async with db.sessions.begin() as session:
        for rid in (1, 2):
            await remote_starts.record(
                session,
                station_id=station,
                remote_start_id=rid,
                id_token="TAG-1",
                evse_id=None,
                connector_id=None,
                workflow_id=f"session:{station}:remote-{rid}",
                requested_at=now,
                expires_at=now + timedelta(minutes=5),
            )
    pk = int(start.transaction_id)
    async with db.sessions.begin() as session:  # 1: claimed first, then the workflow gives up
        claimed, _ = await remote_starts.claim(
            session,
            station_id=station,
            transaction_pk=pk,
            remote_start_id=1,
            id_token="TAG-1",
            connector_id=1,
            now=now,
        )
        assert claimed is not None
    async with db.sessions.begin() as session:
        assert await remote_starts.expire(session, station_id=station, remote_start_id=1, now=now)
    async with db.sessions.begin() as session:  # 2: expired first, then a transaction names it
        assert not await remote_starts.expire(
            session, station_id=station, remote_start_id=2, now=now
        )
    async with db.sessions.begin() as session:
        late, others = await remote_starts.claim(
            session,
            station_id=station,
            transaction_pk=pk,
            remote_start_id=2,
            id_token="TAG-1",
            connector_id=1,
            now=now,
        )
    assert late is None and not others


async def test_charger_chosen_ids_never_share_a_session_workflow(db: Database) -> None:
    """2.x ids that read like our own workflow ids (a remote start's ``remote-N``, a reused
    id's ``~row``, the ``tx:`` escape, a station's ``:``) get workflow ids of their own;
    plain ids keep the default, as every session before had. Across stations whose ids
    contain ``:`` too, no two transactions and no remote start share one."""
    base = unique("CP")
    stations = [base, base + ":B"]
    refs = ["plain", "remote-7", "tx:remote-7", "T~1", "T", "B:remote-7", "a%7Eb", "a~b"]
    ids: list[str] = []
    plain: dict[str, str] = {}
    for station in stations:
        await seed_station(db, station)
        async with db.sessions.begin() as session:
            for ref in refs:
                outcome = await transactions.start_transaction(
                    session,
                    station_id=station,
                    site_id=None,
                    connector_id=1,
                    id_token=None,
                    meter_start_wh=0,
                    started_at=T0,
                    ocpp_version="2.0.1",
                    transaction_ref=ref,
                )
                tx = outcome.transaction
                ids.append(tx.session_workflow)
                assert tx.session_input_is_start
                if ref == "plain":
                    plain[station] = tx.session_workflow
    ids += [remote_session_workflow_id(station, 7) for station in stations]
    assert len(ids) == len(set(ids)), sorted(ids)
    assert plain == {s: session_workflow_id(s, "plain") for s in stations}
    # Only a claim by a remote start makes the workflow's input something else.
    claimed = Transaction(
        station_id=base, remote_start_id=7, workflow_id=remote_session_workflow_id(base, 7)
    )
    unclaimed = Transaction(station_id=base, remote_start_id=7, workflow_id=None)
    assert not claimed.session_input_is_start and unclaimed.session_input_is_start
    # A reused id's later session: the row id is appended to the session's own base.
    assert own_session_workflow_id("S", "remote-7", 42) == "session:S:tx:remote-7~42"
    assert own_session_workflow_id("S", "T", 42) == "session:S:T~42"
