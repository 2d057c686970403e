"""A lazily connected Temporal client, shared by the gateway and the API.

Components start even while Temporal is unreachable (the gateway's outbox keeps
events); the connection is made on first use and retried on the next call.
Not imported by workflow code.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client, Interceptor
from temporalio.contrib.opentelemetry import TracingInterceptor

from workflows.payloads import DATA_CONVERTER


def client_interceptors() -> list[Interceptor]:
    """Every CSMS client's interceptors: OpenTelemetry tracing, so a charger message's
    trace goes on through the workflow it starts or signals and that workflow's
    activities (spans are recorded only where a tracer provider is installed)."""
    return [TracingInterceptor()]


class TemporalLink:
    """Connects on first use and then hands out the same client."""

    def __init__(self, address: str, namespace: str = "default") -> None:
        self.address = address
        self.namespace = namespace
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def of(cls, client: Client) -> TemporalLink:
        """A link around an already connected client."""
        link = cls(client.service_client.config.target_host, client.namespace)
        link._client = client
        return link

    async def client(self) -> Client:
        """The client (raises while Temporal is unreachable)."""
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await Client.connect(
                        self.address,
                        namespace=self.namespace,
                        data_converter=DATA_CONVERTER,
                        interceptors=client_interceptors(),
                    )
        return self._client
