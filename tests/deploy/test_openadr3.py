"""A utility's own OpenADR 3 tooling against the running stack: the PyPI package
``openadr3-client``, a client nobody here wrote, in a process of its own."""

from __future__ import annotations

from deploy.stack import Stack
from tests.deploy.conftest import api_client
from tests.deploy.live_utility import run_utility


async def test_openadr3_client_runs_program_event_change_and_cancel(stack: Stack) -> None:
    async with api_client(stack) as http:
        site = await http.post(
            "/sites",
            json={"id": "dr-depot", "name": "x", "price_per_kwh": "0.2", "currency": "EUR"},
        )
        assert site.status_code == 201
        utility = await http.post("/utilities", json={"name": "Grid", "sites": ["dr-depot"]})
        assert utility.status_code == 201, utility.text
        created = utility.json()
        steps = await run_utility(
            f"http://127.0.0.1:{stack.api_port}/openadr3",
            created["client_id"],
            created["client_secret"],
            "dr-depot",
        )
    assert steps["event"]["priority"] == 1
    assert steps["events"] == [steps["event"]["id"]]
    assert steps["changed"] == {"id": steps["event"]["id"], "priority": 0}
    assert steps["cancelled"] == steps["event"]["id"]
    assert steps["left"] == []
