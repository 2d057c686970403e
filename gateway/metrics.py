"""Prometheus metrics of one gateway node (its own registry: several nodes can share
a process in tests). Labels are OCPP actions and outcomes, never station ids."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class GatewayMetrics:
    """What a node counts: connections, messages by action and result, latencies,
    liveness transitions, outbox depth."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.connections = Gauge(
            "csms_gateway_connections", "Open station sockets", registry=self.registry
        )
        self.messages = Counter(
            "csms_gateway_messages",
            "OCPP CALLs by direction (in: from stations, out: to them), action and result "
            "(ok, or the CALLERROR code, Timeout, Disconnected)",
            ["direction", "action", "result"],
            registry=self.registry,
        )
        self.handling = Histogram(
            "csms_gateway_handling_seconds",
            "Time to answer a station's CALL",
            ["action"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.round_trip = Histogram(
            "csms_gateway_round_trip_seconds",
            "Round trip of the CSMS's CALLs to stations (send to answer)",
            ["action"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.liveness = Counter(
            "csms_gateway_liveness_transitions",
            "Liveness transitions by new state",
            ["state"],
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "csms_gateway_outbox_depth",
            "Events waiting in the outbox for Temporal (this node's, at the last sweep)",
            registry=self.registry,
        )
        self.outbox_delivered = Counter(
            "csms_gateway_outbox_delivered", "Outbox events delivered", registry=self.registry
        )

    def count_connections(self, count: Callable[[], int]) -> None:
        """Read the open socket count from the node when scraped."""
        self.connections.set_function(lambda: float(count()))

    def answered(self, action: str, result: str, seconds: float) -> None:
        """A station's CALL was answered."""
        self.messages.labels("in", action, result).inc()
        self.handling.labels(action).observe(seconds)

    def called(self, action: str, result: str, seconds: float) -> None:
        """A CALL of ours was answered (or given up on)."""
        self.messages.labels("out", action, result).inc()
        self.round_trip.labels(action).observe(seconds)
