"""Settings of one gateway node, passed in by ``deploy`` (the gateway never reads env vars)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gateway.security import TlsFiles
from gateway.symptoms import SymptomLimits
from workflows.domain import TASK_QUEUE
from workflows.health import HealthSettings


@dataclass(frozen=True)
class GatewayConfig:
    """How one gateway node listens and behaves."""

    node_id: str = "gw-1"
    host: str = "0.0.0.0"
    port: int = 9000
    # "reject": unknown identities get HTTP 404 at the handshake;
    # "pending": they are admitted, created as pending and answered Pending until approved.
    unknown_stations: Literal["reject", "pending"] = "reject"
    # Accepted stations at security profile 0 (no authentication) may connect only
    # when the deployment opts in (development); pending ones may always boot.
    allow_unsecured_stations: bool = False
    heartbeat_interval_s: int = 300
    # WebSocket pings: a station whose pong does not come within the timeout is on a
    # half-open connection; it is closed and the station is offline.
    ping_interval_s: float = 60.0
    ping_timeout_s: float = 60.0
    # No message for this long on an open socket: silent (None: twice the heartbeat
    # interval and a minute).
    silent_after_s: float | None = None
    # /metrics, /health and /ready on their own port (None: not served; 0: a free port).
    metrics_port: int | None = None
    # How long a telemetry pattern lasts before it is a symptom (see gateway.symptoms).
    symptoms: SymptomLimits = field(default_factory=SymptomLimits)
    # How a station's health workflow judges it (used when the workflow starts).
    health: HealthSettings = field(default_factory=HealthSettings)
    max_frame_bytes: int = 65_536
    # Per connection: sustained CALLs per second, and the burst allowed above it
    # (a charger emptying its offline queue sends many in a row).
    rate_limit_per_s: float = 50.0
    rate_limit_burst: int = 500
    auth_cache_ttl_s: float = 30.0
    # wss endpoint for security profiles 2 and 3 (off when ``tls`` is None).
    tls: TlsFiles | None = None
    tls_port: int = 9443
    # Per-station message log: every frame ("all"), only commands and their
    # answers ("commands"), or none ("off"); frames older than the retention go.
    message_log: Literal["all", "commands", "off"] = "all"
    message_log_retention_days: float = 7.0
    # Where the node keeps charger messages while the database is away (None: it does
    # not, and they get InternalError until the database is back).
    spool_path: str | None = None
    spool_drain_interval_s: float = 1.0
    # OCSP responders a station may name although they are on internal networks.
    ocsp_responder_hosts: tuple[str, ...] = ()
    # ISO 15118 contract certificates: "test", a provider bridge's URL, or None.
    contract_provider: str | None = None
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = TASK_QUEUE
