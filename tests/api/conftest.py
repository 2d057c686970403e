"""A real API server (uvicorn on a free port) for tests that need one over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from activities.persistence.database import Database
from activities.persistence.migrate import upgrade_async
from activities.temporal_link import TemporalLink
from api.app import create_app
from deploy.stack import EmbeddedServer
from tests.helpers import free_port

KEY = "live-api-key"


@pytest.fixture
async def api_url(tmp_path: Path, backend: str, backend_urls: dict[str, str]) -> AsyncIterator[str]:
    # PostgreSQL too where it runs: some inputs (NUL characters, integers past a
    # column's range) only fail there.
    url = f"sqlite:///{tmp_path / 'api.db'}" if backend == "sqlite" else backend_urls[backend]
    await upgrade_async(url)
    db = Database(url)
    app = create_app(db, TemporalLink("127.0.0.1:1"), {KEY: "operator"}, upload_dir=tmp_path)
    port = free_port()
    server = EmbeddedServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
    await db.dispose()


VTN_OPERATOR = "op-key"


@pytest.fixture
async def http(sqlite_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The API over ASGI with three sites (dr-a, dr-b, dr-c) and Temporal unreachable."""
    app = create_app(sqlite_db, TemporalLink("127.0.0.1:1"), {VTN_OPERATOR: "operator"})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        for site in ("dr-a", "dr-b", "dr-c"):
            await client.post(
                "/sites",
                headers={"X-API-Key": VTN_OPERATOR},
                json={"id": site, "name": site, "price_per_kwh": "0.2", "currency": "EUR"},
            )
        yield client


OPERATOR, VIEWER = "op-key", "view-key"
"""The keys of :func:`api_client`: an operator's (sent by default) and a viewer's."""


@contextlib.asynccontextmanager
async def api_client(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The API over ASGI on ``db``, as an operator (no Temporal: a route that needs it
    answers 503)."""
    app = create_app(db, TemporalLink("127.0.0.1:1"), {OPERATOR: "operator", VIEWER: "viewer"})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://api",
        headers={"X-API-Key": OPERATOR},
    ) as client:
        yield client
