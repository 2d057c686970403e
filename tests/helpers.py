"""Small builders shared by tests (no fakes of real components)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from activities.persistence.database import Database
from activities.persistence.models import IdToken, Site, Station
from activities.persistence.repositories import meter_samples, transactions
from gateway.transaction_events import session_started
from workflows.domain import SessionStarted


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def seed_station(
    db: Database,
    station_id: str,
    *,
    site_id: str | None = None,
    price: str = "0.40",
    password_hash: str | None = None,
    tokens: dict[str, str] | None = None,
) -> None:
    """A site (if named), an accepted station and id tokens ``{token: status}``."""
    async with db.sessions.begin() as session:
        if site_id is not None and await session.get(Site, site_id) is None:
            session.add(
                Site(id=site_id, name=site_id, price_per_kwh=Decimal(price), currency="EUR")
            )
            await session.flush()
        session.add(
            Station(
                id=station_id,
                site_id=site_id,
                registration_status="accepted",
                password_hash=password_hash,
                security_profile=1 if password_hash else 0,
            )
        )
        for token, status in (tokens or {}).items():
            if await session.get(IdToken, token) is None:
                session.add(IdToken(id_token=token, status=status))


async def seed_transaction(
    db: Database,
    station_id: str,
    *,
    site_id: str | None,
    meter_start_wh: int = 1000,
    started_at: datetime | None = None,
    connector_id: int = 1,
) -> SessionStarted:
    """A stored transaction (as the gateway would write it) and its start event."""
    async with db.sessions.begin() as session:
        outcome = await transactions.start_transaction(
            session,
            station_id=station_id,
            site_id=site_id,
            connector_id=connector_id,
            id_token="TAG-1",
            meter_start_wh=meter_start_wh,
            started_at=started_at or datetime(2026, 1, 5, 18, 0, tzinfo=UTC),
            ocpp_version="1.6",
        )
        return session_started(outcome.transaction)


async def store_register(
    db: Database,
    station_id: str,
    start: SessionStarted,
    values: list[float],
    *,
    after_minutes: int = 0,
) -> None:
    """Energy-register samples of ``start``'s transaction, one a minute from its start
    (or from ``after_minutes`` after it), as ``station_id`` sent them (another
    station's, to test scoping)."""
    assert start.transaction_pk is not None
    async with db.sessions.begin() as session:
        await meter_samples.add_samples(
            session,
            [
                {
                    "transaction_pk": start.transaction_pk,
                    "station_id": station_id,
                    "connector_id": 1,
                    "sampled_at": start.started_at + timedelta(minutes=after_minutes + i + 1),
                    "measurand": "Energy.Active.Import.Register",
                    "phase": None,
                    "location": None,
                    "context": None,
                    "unit": "Wh",
                    "value": value,
                }
                for i, value in enumerate(values)
            ],
        )
