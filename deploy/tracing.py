"""OpenTelemetry traces of a process, exported by OTLP over HTTP.

With ``CSMS_OTLP_ENDPOINT`` (e.g. ``http://collector:4318/v1/traces``) every process
records spans: the gateway's one per station message, the outbox delivery that
carries its context, and through the Temporal SDK's tracing interceptor the
workflow it starts or signals and that workflow's activities down to their
database writes. Without it, tracing costs nothing (the API's no-op tracer).
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def install_tracing(endpoint: str | None, service: str) -> TracerProvider | None:
    """Install the process's tracer provider exporting to ``endpoint`` (None: none)."""
    if not endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return provider
