"""Worker, gateway and API of one node in one process (``csms up`` and the end-to-end tests)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from sqlalchemy import text
from temporalio.client import Client
from temporalio.worker import Worker

from activities.invoicing_schedules import ensure_schedules
from activities.persistence.database import Database
from activities.persistence.migrate import upgrade_async
from activities.temporal_link import TemporalLink
from api.app import create_app
from deploy.settings import Settings
from deploy.webhook_sweeper import sweep_forever
from deploy.worker import build_worker, worker_registry
from gateway.probes import ProbeServer, check
from gateway.server import Gateway

log = logging.getLogger(__name__)


class EmbeddedServer(uvicorn.Server):
    """Uvicorn without its own signal handling: the stack decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def dev_api_key(data_dir: Path) -> str:
    """The embedded stack's operator key, created once and kept in the data folder."""
    path = data_dir / "dev-api-key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = "dev-" + secrets.token_urlsafe(24)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


class Stack:
    """The CSMS components of one node, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        *,
        worker: bool = True,
        gateway: bool = True,
        api: bool = True,
    ) -> None:
        self.settings = settings
        self.db = Database(settings.db_url)
        self._want = {"worker": worker, "gateway": gateway, "api": api}
        self.worker: Worker | None = None
        self.gateway: Gateway | None = None
        self.api_server: EmbeddedServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sweeper: asyncio.Task[None] | None = None
        self.worker_probes: ProbeServer | None = None

    async def start(self, client: Client) -> None:
        """Migrate the database, then start each wanted component."""
        await upgrade_async(self.settings.db_url)
        if self._want["worker"]:
            self.worker = build_worker(
                client,
                self.db,
                self.settings.task_queue,
                self.settings.certificate_authority(),
                self.settings.smtp(),
            )
            self._tasks.append(asyncio.create_task(self.worker.run(), name="worker"))
            if self.settings.worker_metrics_port is not None:
                self.worker_probes = ProbeServer(
                    self.settings.metrics_host,
                    self.settings.worker_metrics_port,
                    [worker_registry()],
                    lambda: self._worker_ready(client),
                )
                await self.worker_probes.start()
            self._sweeper = asyncio.create_task(
                sweep_forever(client, self.db, self.settings.task_queue), name="webhook-sweeper"
            )
            self._tasks.append(
                asyncio.create_task(self._schedules(client), name="invoicing-schedules")
            )
        if self._want["gateway"]:
            self.gateway = Gateway(self.settings.gateway_config(), self.db)
            await self.gateway.start()
        if self._want["api"]:
            app = create_app(
                self.db,
                TemporalLink.of(client),
                self.settings.api_keys,
                self.settings.task_queue,
                public_url=self.settings.api_public_url,
                upload_dir=self.settings.data_dir / "uploads",
                allow_unsecured_stations=self.settings.unsecured_stations_allowed,
            )
            config = uvicorn.Config(
                app,
                host=self.settings.api_host,
                port=self.settings.api_port,
                log_level="warning",
                lifespan="off",
            )
            self.api_server = EmbeddedServer(config)
            self._tasks.append(asyncio.create_task(self.api_server.serve(), name="api"))
            while not self.api_server.started:
                if self._tasks[-1].done():
                    self._tasks[-1].result()  # surface the bind error
                    raise RuntimeError("the API server stopped while starting")
                await asyncio.sleep(0.02)
            if self.settings.public_url is None and self.settings.api_port == 0:
                # Bound to a free port: tell chargers the real one.
                app.state.public_url = f"http://localhost:{self.api_port}"

    async def _worker_ready(self, client: Client) -> dict[str, str]:
        """The worker runs, and its database and Temporal answer."""
        running = self._tasks[0] if self._tasks else None
        checks = {"worker": "ok" if running is not None and not running.done() else "stopped"}

        async def database() -> None:
            async with self.db.sessions() as session:
                await session.execute(text("SELECT 1"))

        await check("database", database, checks)
        await check("temporal", client.service_client.check_health, checks)
        return checks

    async def _schedules(self, client: Client) -> None:
        """Make sure every account time zone has its invoicing schedule (accounts
        created while Temporal was away, or before this version)."""
        try:
            await ensure_schedules(client, self.db, self.settings.task_queue)
        except Exception:  # advisory: the API creates them too
            log.exception("invoicing schedules not checked")

    @property
    def api_port(self) -> int:
        """The bound API port (useful when configured as 0)."""
        assert self.api_server is not None
        return int(self.api_server.servers[0].sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop the API, the gateway, then the worker (letting running activities finish)."""
        if self.worker_probes is not None:
            await self.worker_probes.stop()
        if self.api_server is not None:
            self.api_server.should_exit = True
        if self.gateway is not None:
            await self.gateway.stop()
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        if self.worker is not None:
            await self.worker.shutdown()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.db.dispose()
