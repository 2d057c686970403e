"""Small builders shared by tests (no fakes of real components)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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
    id_token: str = "TAG-1",
) -> SessionStarted:
    """A stored transaction (as the gateway would write it) and its start event."""
    async with db.sessions.begin() as session:
        outcome = await transactions.start_transaction(
            session,
            station_id=station_id,
            site_id=site_id,
            connector_id=connector_id,
            id_token=id_token,
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


async def utility_bearer(
    http: Any, client: dict[str, Any], scope: str | None = None
) -> tuple[dict[str, str], dict[str, Any]]:
    """A utility's bearer header from the VTN's token endpoint (client credentials by
    HTTP Basic, as OAuth2 clients send them), and the token response."""
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    form = "grant_type=client_credentials" + (f"&scope={scope}" if scope else "")
    answer = await http.post(
        "/openadr3/auth/token",
        content=form,
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert answer.status_code == 200, answer.text
    token: dict[str, Any] = answer.json()
    return {"Authorization": f"Bearer {token['access_token']}"}, token


WEBHOOK_KEY = "test-webhook-key"
"""The webhook signing key of the utility :func:`seed_dr_event` makes."""


async def seed_dr_event(
    db: Database, site_id: str, start: datetime, minutes: int, limits: list[float]
) -> tuple[str, str]:
    """A utility (reaching ``site_id``), a program and an event targeting the site with
    one IMPORT_CAPACITY_LIMIT interval of ``minutes`` per limit from ``start``, as the
    VTN stores them; (event id, utility client id)."""
    from activities.persistence.models import DrEvent, DrProgram, UtilityClient
    from tests.conftest import unique

    event_id, client_id = unique("ev"), unique("u")
    async with db.sessions.begin() as session:
        session.add(
            UtilityClient(
                client_id=client_id,
                name="G",
                secret_hash="x",
                sites=[site_id],
                webhook_secret=WEBHOOK_KEY,
            )
        )
        await session.flush()
        session.add(DrProgram(id=event_id, client_id=client_id, program_name="p", body={}))
        await session.flush()
        session.add(
            DrEvent(
                id=event_id,
                client_id=client_id,
                program_id=event_id,
                starts_at=start,
                ends_at=start + timedelta(minutes=minutes * len(limits)),
                body={
                    "id": event_id,
                    "eventName": "cap",
                    "targets": [site_id],
                    "intervalPeriod": {"start": start.isoformat(), "duration": f"PT{minutes}M"},
                    "intervals": [
                        {"id": n, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [kw]}]}
                        for n, kw in enumerate(limits)
                    ],
                },
            )
        )
    return event_id, client_id


@dataclass
class Call:
    """One webhook call as the receiver got it."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)


class WebhookReceiver:
    """A real HTTP server on a free port standing for a utility's webhook endpoint:
    answers each POST with the next of ``answers`` (then 200) and keeps every call."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.calls: list[Call] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.calls.append(Call(self.path, dict(self.headers.items()), body))
                code = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    async def wait_for(self, count: int, timeout_s: float = 20.0) -> list[Call]:
        """The calls, once there are ``count`` of them (fails after ``timeout_s``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(self.calls) < count:
            assert loop.time() < deadline, f"{len(self.calls)} webhook calls, wanted {count}"
            await asyncio.sleep(0.05)
        return list(self.calls)
