"""``csms utility add``: a client whose secret reaches a file, never the console."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities.persistence.database import Database
from activities.persistence.migrate import upgrade
from activities.persistence.models import Site
from activities.persistence.repositories import utilities
from deploy.cli import app


def test_utility_add_keeps_the_secret_out_of_the_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'csms.db'}"
    upgrade(url)

    async def seed() -> None:
        db = Database(url)
        async with db.sessions.begin() as session:
            session.add(Site(id="north", name="n", price_per_kwh=1, currency="EUR"))
        await db.dispose()

    async def valid(client_id: str, secret: str) -> bool:
        db = Database(url)
        async with db.sessions() as session:
            found = await utilities.authenticate(session, client_id, secret)
        await db.dispose()
        return found is not None

    asyncio.run(seed())
    monkeypatch.setenv("CSMS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CSMS_DATABASE_URL", url)
    result = CliRunner().invoke(app, ["utility", "add", "Grid", "--sites", "north"])
    assert result.exit_code == 0, result.output
    client_id = result.output.split("client id:")[1].split()[0]
    secret_file = tmp_path / f"{client_id}.secret"
    secret = secret_file.read_text().strip()
    assert secret not in result.output
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert asyncio.run(valid(client_id, secret))
    signing_file = tmp_path / f"{client_id}.webhook-secret"
    signing = signing_file.read_text().strip()
    assert signing and signing != secret and signing not in result.output
    assert stat.S_IMODE(signing_file.stat().st_mode) == 0o600
    unknown = CliRunner().invoke(app, ["utility", "add", "Grid", "--sites", "south"])
    assert unknown.exit_code != 0 and "south" in unknown.output
