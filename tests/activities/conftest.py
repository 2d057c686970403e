"""Fixtures of the activity tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from activities.persistence.database import Database
from activities.temporal_link import TemporalLink
from api.app import create_app


@pytest.fixture
async def vtn(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The API over ASGI on the test's database (operator key "op", no Temporal)."""
    app = create_app(db, TemporalLink("127.0.0.1:1"), {"op": "operator"})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as client:
        yield client
