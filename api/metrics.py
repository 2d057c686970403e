"""Prometheus metrics of the API: requests by method, route template and status, and
their latency. Route templates (``/stations/{station_id}``), never raw paths: ids
and tokens stay out of the labels."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.types import ASGIApp

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class ApiMetrics:
    """The API's registry and instruments."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "csms_api_requests",
            "HTTP requests by method, route template and status code",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "csms_api_request_seconds",
            "Time to answer, by method and route template",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )


class MetricsMiddleware(BaseHTTPMiddleware):
    """Counts and times every request."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        super().__init__(app)
        self._metrics = metrics

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        began = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self._metrics.requests.labels(request.method, template, str(response.status_code)).inc()
        self._metrics.latency.labels(request.method, template).observe(time.perf_counter() - began)
        return response
