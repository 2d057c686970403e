"""Engine and session factory for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def unavailable(error: BaseException) -> bool:
    """Whether ``error`` means the database cannot be reached right now (connection
    refused or lost, pool exhausted), as opposed to a statement that failed."""
    from sqlalchemy import exc

    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, exc.OperationalError | exc.InterfaceError | exc.TimeoutError):
        return True
    return isinstance(error, ConnectionError | OSError)


def async_url(url: str) -> str:
    """Return ``url`` with an asyncio driver: aiosqlite for SQLite, psycopg for PostgreSQL.

    Operators may write the familiar ``sqlite:///file.db`` or ``postgresql://...``;
    both run on async drivers here.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    else:
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while the gateway writes; busy_timeout makes writers
    # from the gateway, the worker and the API queue instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create an async engine for ``url`` (any accepted spelling, see :func:`async_url`)."""
    url = async_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection per process: SQLite has a single writer, and writers on
        # several connections wait in its busy handler (sleeps of up to 100 ms)
        # instead of an orderly queue. Statements take well under a millisecond,
        # so callers must not hold a session across slow awaits.
        kwargs.update(pool_size=1, max_overflow=0, pool_timeout=60)
    else:
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        # Sessions in UTC: the driver then returns timestamps in ``datetime.UTC``
        # itself, not a ZoneInfo each row must be converted from (a month's
        # invoicing reads two million of them).
        options = parsed.query.get("options", "")
        options = " ".join(options) if isinstance(options, tuple) else options
        if "timezone" not in options.lower():
            url = parsed.update_query_dict(
                {"options": f"{options} -c TimeZone=UTC".strip()}
            ).render_as_string(hide_password=False)
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory whose objects stay readable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_insert(session: AsyncSession) -> Any:
    """The INSERT construct of the session's dialect (it has ``on_conflict_*``)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


class Database:
    """An engine with its session factory; the one handle components receive."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = async_url(url)
        self.engine = create_engine(url, echo=echo)
        self.sessions = session_factory(self.engine)

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite backend."""
        return self.engine.dialect.name == "sqlite"

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
