"""Conformance tests driven by an independent strict client: ocpp-rpc, in a Node process.

ocpp-rpc in strict mode checks every frame the CSMS sends against the official
OCPP JSON schemas of the negotiated version; a frame that breaks them is
reported in ``failures`` and fails the test. Its packages install from the
committed lockfile (``npm ci``) the first time the tests run.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gateway.server import Gateway

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def ocpp_rpc() -> Path:
    """The charger script, with ocpp-rpc installed from the lockfile."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("Node.js and npm are needed for the conformance tests")
    installed = HERE / "node_modules" / "ocpp-rpc" / "package.json"
    if not installed.exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HERE,
            check=True,
            timeout=300,
        )
    return HERE / "charger.mjs"


class StrictCharger:
    """Runs scenarios through the ocpp-rpc charger against one gateway."""

    def __init__(self, script: Path, gateway: Gateway) -> None:
        self.script = script
        self.gateway = gateway

    async def run(
        self,
        identity: str,
        protocol: str,
        steps: list[tuple[str, dict[str, Any]]],
        *,
        password: str | None = None,
        protocols: list[str] | None = None,
    ) -> dict[str, Any]:
        """Connect, send each CALL, and return what the charger saw."""
        scenario = {
            "endpoint": f"ws://127.0.0.1:{self.gateway.port}/ocpp",
            "identity": identity,
            "protocols": protocols or [protocol],
            "password": password,
            "steps": [{"action": action, "params": params} for action, params in steps],
        }
        process = await asyncio.create_subprocess_exec(
            "node",
            str(self.script),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(json.dumps(scenario).encode()), 60)
        assert process.returncode == 0, err.decode()
        result: dict[str, Any] = json.loads(out)
        assert result["failures"] == [], f"the CSMS sent frames that break the schemas: {result}"
        return result


@pytest.fixture
def strict(ocpp_rpc: Path, gateway: Gateway) -> StrictCharger:
    """A strict ocpp-rpc charger aimed at the test gateway."""
    return StrictCharger(ocpp_rpc, gateway)


def responses(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The response payloads, asserting that every call succeeded."""
    assert result["connectError"] is None, result
    failed = [r for r in result["results"] if not r["ok"]]
    assert not failed, failed
    return [r["response"] for r in result["results"]]
