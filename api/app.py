"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from activities.persistence.database import Database
from activities.temporal_link import TemporalLink
from api import docs
from api.auth import parse_grant
from api.input_guard import InputGuard
from api.metrics import ApiMetrics, MetricsMiddleware
from api.openadr3 import vtn
from api.routers import (
    accounts,
    cdrs,
    commands,
    configuration_pushes,
    demand_response,
    firmware,
    fleet_plans,
    id_tokens,
    incidents,
    invoices,
    log_uploads,
    payment_holds,
    reconciliation,
    reservations,
    sessions,
    sites,
    smart_charging,
    station_health,
    stations,
    tariffs,
    utilities,
)
from workflows.domain import TASK_QUEUE

DESCRIPTION = """
Charging station management: sites, stations, id tokens, charging sessions and
charge detail records. Authenticate with an API key in the `X-API-Key` header.
Utilities reach the OpenADR 3 VTN under `/openadr3` with OAuth2 client-credentials
tokens from `/openadr3/auth/token` (clients created at `POST /utilities`).
Units are in the field names (Wh, W, price per kWh); times are UTC.
"""


def create_app(
    db: Database,
    temporal: TemporalLink,
    api_keys: Mapping[str, str],
    task_queue: str = TASK_QUEUE,
    *,
    public_url: str = "http://localhost:8000",
    upload_dir: Path = Path(".csms/uploads"),
    allow_unsecured_stations: bool = False,
) -> FastAPI:
    """Build the API over a database, a (lazily connected) Temporal link and the
    workers' task queue."""
    # The docs come from the installed package (air-gapped sites have no CDN).
    app = FastAPI(
        title="CSMS API",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
    )
    docs.install(app)
    app.add_middleware(InputGuard)
    api_metrics = ApiMetrics()
    app.state.metrics = api_metrics
    app.add_middleware(MetricsMiddleware, metrics=api_metrics)
    app.state.db = db
    app.state.temporal = temporal
    app.state.task_queue = task_queue
    # Security profile 0 (no authentication) only where the deployment opts in.
    app.state.allow_unsecured_stations = allow_unsecured_stations
    # Chargers upload diagnostics to public_url/uploads/...; files land in upload_dir.
    app.state.public_url = public_url
    app.state.upload_dir = upload_dir
    app.state.api_keys = {key: parse_grant(grant) for key, grant in api_keys.items()}
    for module in (
        sites,
        smart_charging,
        fleet_plans,
        stations,
        commands,
        reservations,
        log_uploads,
        configuration_pushes,
        id_tokens,
        sessions,
        cdrs,
        reconciliation,
        utilities,
        demand_response,
        tariffs,
        accounts,
        invoices,
        payment_holds,
        firmware,
        station_health,
        incidents,
    ):
        app.include_router(module.router)
    # The utility-facing OpenADR 3 VTN (its own OAuth2 tokens, not API keys).
    app.include_router(vtn.router)
    app.include_router(log_uploads.public)

    @app.get("/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the API process answers (public, for orchestrators)."""
        return {"status": "alive"}

    @app.get("/ready", tags=["health"])
    async def ready() -> JSONResponse:
        """Readiness: reachability of the database and Temporal (public; 503 if not)."""
        checks: dict[str, str] = {}
        try:
            async with db.sessions() as session:
                await session.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        try:
            client = await temporal.client()
            await client.service_client.check_health()
            checks["temporal"] = "ok"
        except Exception as exc:
            checks["temporal"] = f"error: {type(exc).__name__}"
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse(checks, status_code=200 if healthy else 503)

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus metrics of the API (public, as scrapers expect; labels carry
        route templates, never ids)."""
        return PlainTextResponse(
            generate_latest(api_metrics.registry), media_type=CONTENT_TYPE_LATEST
        )

    return app
