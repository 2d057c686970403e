"""The ``csms`` command line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from activities.persistence.migrate import upgrade, upgrade_async
from deploy.gc_policy import GcPolicy
from deploy.processes import spawn, terminate
from deploy.settings import Settings
from deploy.simulated_firmware import FirmwarePlan
from deploy.simulator import (
    SessionPlan,
    SimulationStats,
    provision,
    run_charger,
    station_ids,
)
from deploy.stack import Stack, dev_api_key
from deploy.temporal_dev import TemporalDevServer, metrics_runtime, wait_for_temporal
from deploy.tracing import install_tracing

app = typer.Typer(help="Charging station management system.", no_args_is_help=True)
console = Console()


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(name)s: %(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False)],
    )
    # Temporal's worker logs every poll hiccup at WARNING during shutdown.
    logging.getLogger("temporalio").setLevel(max(logging.WARNING, logging.getLogger().level))


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    console.print("[yellow]stopping…[/yellow]")


def _run(main: Callable[[], Coroutine[Any, Any, None]], settings: Settings) -> None:
    # Full collections of a heap holding thousands of connections stall the loop.
    GcPolicy(settings.gc_young_threshold, settings.gc_thaw_interval_s).install()
    install_tracing(settings.otlp_endpoint, f"csms-{settings.node_id}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


@app.command()
def up(
    external_temporal: Annotated[
        bool, typer.Option(help="use CSMS_TEMPORAL_ADDRESS instead of starting a dev server")
    ] = False,
) -> None:
    """Run everything on embedded defaults: Temporal dev server, worker, gateway and API."""
    settings = Settings()
    _logging(settings.log_level)
    dev_key = not settings.api_keys
    if dev_key:
        settings.api_keys = {dev_api_key(settings.data_dir): "operator"}

    async def main() -> None:
        temporal: TemporalDevServer | None = None
        if external_temporal:
            client = await wait_for_temporal(settings.temporal_address, settings.temporal_namespace)
        else:
            port = int(settings.temporal_address.rsplit(":", 1)[1])
            temporal = TemporalDevServer(
                settings.data_dir,
                port=port,
                ui_port=settings.temporal_ui_port,
                namespace=settings.temporal_namespace,
            )
            console.print("starting the Temporal dev server…")
            client = await temporal.start()
        await upgrade_async(settings.db_url)
        # The worker gets its own process (and so its own core): workflow
        # activations then never delay the gateway's answers to chargers.
        worker_process = await spawn(
            [sys.executable, "-m", "deploy.cli", "worker"], env=settings.as_env()
        )
        stack = Stack(settings, worker=False)
        try:
            await stack.start(client)
            _print_endpoints(settings, ui=temporal is not None, dev_key=dev_key)
            await _until_signalled()
        finally:
            await stack.stop()
            await terminate(worker_process)
            if temporal is not None:
                await temporal.stop()
            console.print("[green]stopped cleanly[/green]")

    _run(main, settings)


def _print_endpoints(settings: Settings, *, ui: bool, dev_key: bool) -> None:
    # Secrets never reach the console: the database password is masked, and keys are
    # named by where they live, never printed.
    table = Table(title="CSMS is up", show_header=False)
    gateway = f"ws://localhost:{settings.gateway_port}/<station-id>"
    table.add_row("OCPP gateway", f"{gateway}  (ocpp1.6, ocpp2.0.1, ocpp2.1)")
    table.add_row("API docs", f"http://localhost:{settings.api_port}/docs")
    if ui:
        table.add_row("Temporal UI", f"http://localhost:{settings.temporal_ui_port}")
    table.add_row("Temporal", settings.temporal_address)
    table.add_row("Database", settings.db_url_for_display)
    if dev_key:
        table.add_row("API key (operator)", f"in {settings.data_dir / 'dev-api-key'}")
    else:
        table.add_row("API keys", f"{len(settings.api_keys)} configured in CSMS_API_KEYS")
    table.add_row("Try", "csms simulate --stations 5   (in another terminal)")
    console.print(table)
    console.print("Ctrl-C stops everything.")


def _component(**wanted: bool) -> None:
    settings = Settings()
    _logging(settings.log_level)

    async def main() -> None:
        # The worker's SDK metrics (task latencies, activity execution times) for Prometheus.
        runtime = (
            metrics_runtime(settings.metrics_host, settings.worker_sdk_metrics_port)
            if wanted.get("worker")
            else None
        )
        client = await wait_for_temporal(
            settings.temporal_address, settings.temporal_namespace, timeout_s=300, runtime=runtime
        )
        stack = Stack(settings, **wanted)
        try:
            await stack.start(client)
            console.print(f"running {', '.join(k for k, v in wanted.items() if v)}")
            await _until_signalled()
        finally:
            await stack.stop()

    _run(main, settings)


@app.command()
def worker() -> None:
    """Run only the Temporal worker (workflows and activities)."""
    _component(worker=True, gateway=False, api=False)


@app.command()
def gateway() -> None:
    """Run only an OCPP gateway node (CSMS_NODE_ID names it)."""
    _component(worker=False, gateway=True, api=False)


@app.command()
def api() -> None:
    """Run only the HTTP API (keys from CSMS_API_KEYS)."""
    settings = Settings()
    if not settings.api_keys:
        raise typer.BadParameter('set CSMS_API_KEYS, e.g. \'{"<key>": "operator"}\'')
    _component(worker=False, gateway=False, api=True)


utility = typer.Typer(help="Utilities' OpenADR 3 clients.", no_args_is_help=True)
app.add_typer(utility, name="utility")


@utility.command("add")
def utility_add(
    name: Annotated[str, typer.Argument(help="the utility's name")],
    sites: Annotated[str, typer.Option(help="the sites its events may target, comma-separated")],
) -> None:
    """Create a utility's OAuth2 client. Its secret, and the key that signs the webhook
    calls to it, go to files only the owner may read (never to the console): hand
    them to the utility, then delete the files."""
    from activities.persistence.database import Database
    from activities.persistence.repositories import sites as site_rows
    from activities.persistence.repositories import utilities

    settings = Settings()
    wanted = [s.strip() for s in sites.split(",") if s.strip()]
    if not wanted:
        raise typer.BadParameter("name at least one site", param_hint="--sites")

    async def main() -> tuple[str, str, str]:
        await upgrade_async(settings.db_url)
        db = Database(settings.db_url)
        try:
            async with db.sessions.begin() as session:
                missing = sorted(set(wanted) - set(await site_rows.get_sites(session, wanted)))
                if missing:
                    raise typer.BadParameter(
                        f"unknown sites: {', '.join(missing)}", param_hint="--sites"
                    )
                client, secret = await utilities.create_client(session, name, wanted)
                return client.client_id, secret, client.webhook_secret
        finally:
            await db.dispose()

    client_id, secret, webhook_secret = asyncio.run(main())
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / f"{client_id}.secret"
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    signing = settings.data_dir / f"{client_id}.webhook-secret"
    signing.touch(mode=0o600)
    signing.write_text(webhook_secret + "\n")
    console.print(f"client id:  {client_id}")
    console.print(f"secret in:  {path} (only its hash is kept here)")
    console.print(f"webhook signing key in: {signing}")
    console.print(f"token URL:  {settings.api_public_url}/openadr3/auth/token")


@app.command()
def price(
    cdr: Annotated[
        Path, typer.Option(help="an OCPI 2.2.1 CDR (JSON)", exists=True, dir_okay=False)
    ],
    tariff: Annotated[
        Path | None,
        typer.Option(help="an OCPI 2.2.1 Tariff or a list of them (default: the CDR's own)"),
    ] = None,
    time_zone: Annotated[
        str | None, typer.Option(help="IANA zone of the location (default: the CDR's, else UTC)")
    ] = None,
) -> None:
    """Price an OCPI CDR's charging periods against a tariff and print the totals in the
    CDR's own shape (one JSON object), to check a third party's tariff and CDR."""
    from activities.billing.ocpi_cdr import CdrError, price_ocpi_cdr, totals_json
    from activities.billing.tariffs import TariffError

    def read(path: Path) -> Any:
        try:
            data = json.loads(path.read_text(), parse_float=Decimal)
        except (OSError, ValueError) as error:
            raise typer.BadParameter(f"{path}: {error}") from None
        # An OCPI response envelope carries the object in "data".
        if isinstance(data, dict) and "data" in data and "status_code" in data:
            data = data["data"]
        return data

    try:
        priced = price_ocpi_cdr(
            read(cdr), read(tariff) if tariff is not None else None, time_zone=time_zone
        )
    except (CdrError, TariffError) as error:
        typer.echo(f"cannot price: {error}", err=True)
        raise typer.Exit(2) from None
    for note in priced.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(json.dumps(totals_json(priced)))


@app.command()
def migrate() -> None:
    """Apply the database migrations (CSMS_DATABASE_URL)."""
    settings = Settings()
    upgrade(settings.db_url)
    console.print(f"database at {settings.db_url_for_display} is up to date")


@app.command()
def simulate(
    stations: Annotated[int, typer.Option(min=1, help="number of simulated chargers")] = 5,
    sessions: Annotated[int, typer.Option(min=0, help="sessions per charger (0: forever)")] = 0,
    meter_interval: Annotated[float, typer.Option(help="seconds between MeterValues")] = 5.0,
    meter_samples: Annotated[int, typer.Option(help="MeterValues per session")] = 4,
    gateway_url: Annotated[str, typer.Option(help="OCPP gateway")] = "ws://localhost:9000",
    api_url: Annotated[str, typer.Option(help="CSMS API")] = "http://localhost:8000",
    api_key: Annotated[str | None, typer.Option(help="operator key (default: dev key)")] = None,
    ocpp_version: Annotated[
        str, typer.Option(help="1.6, 2.0.1, 2.1, or mixed (the three in turn)")
    ] = "1.6",
    firmware_fail_share: Annotated[
        float, typer.Option(min=0, max=1, help="share of chargers whose firmware updates fail")
    ] = 0.0,
    firmware_fail_step: Annotated[
        str,
        typer.Option(help="where they fail: download, signature, install, old_version, never_back"),
    ] = "install",
) -> None:
    """Simulated chargers that charge in a loop against a running CSMS (and install the
    firmware updates they are sent)."""
    versions = ["1.6", "2.0.1", "2.1"] if ocpp_version == "mixed" else [ocpp_version]
    if any(v not in ("1.6", "2.0.1", "2.1") for v in versions):
        raise typer.BadParameter("choose 1.6, 2.0.1, 2.1 or mixed", param_hint="--ocpp-version")
    steps = ("download", "signature", "install", "old_version", "never_back")
    if firmware_fail_step not in steps:
        raise typer.BadParameter(
            f"choose one of {', '.join(steps)}", param_hint="--firmware-fail-step"
        )
    firmware = FirmwarePlan(
        fail_share=firmware_fail_share,
        fail_step=firmware_fail_step,  # type: ignore[arg-type]
        step_s=1.0,
        reboot_s=5.0,
    )
    settings = Settings()
    key = api_key or dev_api_key(settings.data_dir)
    ids = station_ids(stations)
    plan = SessionPlan(meter_samples=meter_samples, meter_interval_s=meter_interval)

    async def main() -> None:
        await provision(api_url, key, ids)
        stats = SimulationStats()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        chargers = asyncio.gather(
            *(
                run_charger(
                    gateway_url,
                    s,
                    plan,
                    stats,
                    sessions,
                    stop,
                    versions[i % len(versions)],
                    firmware=firmware,
                )
                for i, s in enumerate(ids)
            )
        )
        began = time.monotonic()
        console.print(f"{stations} chargers → {gateway_url}; sessions appear at {api_url}/sessions")
        while not chargers.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(chargers), 5)
            console.print(
                f"[{time.monotonic() - began:5.0f}s] connected {stats.connected}  "
                f"started {stats.sessions_started}  completed {stats.sessions_completed}  "
                f"errors {stats.errors}"
            )
        await chargers

    _run(main, settings)


if __name__ == "__main__":
    app()
