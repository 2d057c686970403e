"""Request-scoped dependencies: database sessions and the Temporal link."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from activities.persistence.database import Database
from activities.temporal_link import TemporalLink


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    db: Database = request.app.state.db
    async with db.sessions() as session:
        yield session


def _database(request: Request) -> Database:
    return request.app.state.db


def _temporal(request: Request) -> TemporalLink:
    return request.app.state.temporal


Session = Annotated[AsyncSession, Depends(_session)]
DatabaseDep = Annotated[Database, Depends(_database)]
"""The database itself, for a response that outlives the request's session (a stream)."""
Temporal = Annotated[TemporalLink, Depends(_temporal)]


IdInPath = Annotated[int, Path(ge=1, le=2**63 - 1, description="a database id")]
"""A 64-bit database id in the URL: out of range is a 422, not a 500."""
