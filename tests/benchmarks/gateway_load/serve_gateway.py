"""The full gateway for the load benchmark, on a fresh SQLite database with N stations.

    python tests/benchmarks/gateway_load/serve_gateway.py PORT STATIONS PREFIX FOLDER

``CSMS_MESSAGE_LOG`` sets the message log as for ``csms gateway``;
``CSMS_BENCH_GC_POLICY=off`` leaves CPython's collector at its defaults.

Temporal is not needed: Heartbeat and MeterValues outside transactions create
no lifecycle events (telemetry goes to the database only).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy import insert

from activities.persistence.database import Database
from activities.persistence.migrate import upgrade_async
from activities.persistence.models import Station
from deploy.gc_policy import GcPolicy
from gateway.config import GatewayConfig
from gateway.server import Gateway


async def main(port: int, stations: int, prefix: str, folder: Path) -> None:
    url = f"sqlite:///{folder / 'gateway-bench.db'}"
    await upgrade_async(url)
    db = Database(url)
    async with db.sessions.begin() as session:
        await session.execute(
            insert(Station),
            [
                {"id": f"{prefix}{i:06d}", "registration_status": "accepted", "security_profile": 0}
                for i in range(stations)
            ],
        )
    gateway = Gateway(
        GatewayConfig(
            allow_unsecured_stations=True,
            node_id="gw-bench",
            host="127.0.0.1",
            port=port,
            temporal_address="127.0.0.1:1",
            message_log=os.environ.get("CSMS_MESSAGE_LOG", "all"),  # type: ignore[arg-type]
        ),
        db,
    )
    await gateway.start()
    print("ready", flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    if os.environ.get("CSMS_BENCH_GC_POLICY", "on") != "off":
        GcPolicy().install()  # as `csms gateway` does
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])))
