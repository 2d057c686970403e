"""Settings from the environment (``CSMS_`` prefix) with embedded defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from activities.alerts import SmtpSettings
from activities.certificate_authority import CertificateAuthority
from api.auth import parse_grant
from gateway.config import GatewayConfig
from gateway.security import TlsFiles
from workflows.domain import TASK_QUEUE
from workflows.health import HealthSettings


class Settings(BaseSettings):
    """Everything an operator can set. With nothing set, the system runs on embedded defaults."""

    model_config = SettingsConfigDict(env_prefix="CSMS_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path(".csms"), description="embedded database, Temporal state, dev key")
    database_url: str | None = Field(None, description="default: SQLite file in data_dir")
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_ui_port: int = 8233
    task_queue: str = TASK_QUEUE
    node_id: str = "gw-1"
    gateway_host: str = "0.0.0.0"
    gateway_port: int = 9000
    api_host: str = "0.0.0.0"
    api_port: int = 8000
    public_url: str | None = Field(
        None, description="the API as chargers reach it (log uploads); default localhost"
    )
    tls_cert: str | None = Field(None, description="PEM certificate: enables wss on tls_port")
    tls_key: str | None = Field(None, description="PEM private key of tls_cert")
    tls_client_ca: str | None = Field(None, description="CA of station certificates (profile 3)")
    tls_second_cert: str | None = Field(
        None,
        description="PEM certificate of the other key type (RSA beside ECDSA or the reverse),"
        " so stations get every TLS 1.2 suite the OCPP security whitepaper requires",
    )
    tls_second_key: str | None = Field(None, description="PEM private key of tls_second_cert")
    tls_port: int = 9443
    ca_cert: str | None = Field(
        None,
        description="PEM certificate of the CA that signs station certificates"
        " (default: a development CA kept in data_dir/ca)",
    )
    ca_key: str | None = Field(None, description="PEM EC private key of ca_cert")
    ocsp_responder_hosts: list[str] = Field(
        default_factory=list,
        description="JSON list: OCSP responder hosts stations may name although they are"
        " on internal networks (others are refused: a station must not make the CSMS call"
        " its internal services)",
    )
    contract_provider: str | None = Field(
        None,
        description="ISO 15118 contract certificates: a provider bridge's URL, or 'test'",
    )
    unknown_stations: Literal["reject", "pending"] = "reject"
    allow_unsecured_stations: bool | None = Field(
        None,
        description="stations with security profile 0 (no authentication); default: allowed "
        "only on the embedded SQLite database (development), refused elsewhere",
    )
    heartbeat_interval_s: int = 300
    otlp_endpoint: str | None = Field(None, description="OTLP/HTTP traces endpoint (off if unset)")
    metrics_host: str = "0.0.0.0"
    gateway_metrics_port: int | None = Field(9101, description="gateway /metrics, /health, /ready")
    worker_metrics_port: int | None = Field(9102, description="worker /metrics, /health, /ready")
    worker_sdk_metrics_port: int | None = Field(
        9103, description="the Temporal SDK's own Prometheus exporter of the worker"
    )
    ping_interval_s: float = 60.0
    ping_timeout_s: float = Field(60.0, description="a pong later than this: half-open")
    silent_after_s: float | None = Field(None, description="default: 2 heartbeats + 60 s")
    offline_after_s: float = Field(300.0, description="disconnected this long: offline")
    offline_incident_after_s: float = 3600.0
    max_resets_per_day: int = 3
    health_monitors: bool = Field(True, description="2.x: set the monitors health needs")
    smtp_host: str | None = Field(None, description="SMTP server of e-mail alerts")
    smtp_port: int = 25
    smtp_sender: str = "csms@localhost"
    smtp_username: str | None = None
    smtp_password: str | None = Field(None, description="secret: never shown or logged")
    smtp_starttls: bool = False
    api_keys: dict[str, str] = Field(
        default_factory=dict,
        description='JSON: {"<key>": "operator" | "viewer" | "depot_manager:<site>,<site>"}',
    )

    @field_validator("api_keys")
    @classmethod
    def _grants(cls, keys: dict[str, str]) -> dict[str, str]:
        for grant in keys.values():
            parse_grant(grant)  # refuses unknown roles and site-less depot managers
        return keys

    message_log: Literal["all", "commands", "off"] = Field(
        "all", description="per-station frame log: every frame, commands only, or off"
    )
    message_log_retention_days: float = 7.0
    log_level: str = "INFO"
    gc_young_threshold: int = Field(
        10_000, description="allocations between young collections (CPython's default: 700)"
    )
    gc_thaw_interval_s: float = Field(
        3600.0, description="how often a full collection walks the frozen objects too"
    )

    @property
    def db_url(self) -> str:
        """The database URL, defaulting to ``<data_dir>/csms.db``."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'csms.db').resolve()}"

    @property
    def db_url_for_display(self) -> str:
        """The database URL with its password masked (for the console and logs)."""
        return make_url(self.db_url).render_as_string(hide_password=True)

    @property
    def unsecured_stations_allowed(self) -> bool:
        """Whether profile 0 may be used: as set, else only in the embedded development setup."""
        if self.allow_unsecured_stations is not None:
            return self.allow_unsecured_stations
        return self.database_url is None

    @property
    def api_public_url(self) -> str:
        """Base URL chargers upload to."""
        return self.public_url or f"http://localhost:{self.api_port}"

    def as_env(self) -> dict[str, str]:
        """These settings as ``CSMS_*`` variables, for a child process."""
        env = {
            f"CSMS_{name.upper()}": str(value)
            for name, value in self.model_dump(exclude={"api_keys", "database_url"}).items()
            if value is not None
        }
        env["CSMS_DATABASE_URL"] = self.db_url
        # Decided here: the child sees an explicit database URL even on the embedded one.
        env["CSMS_ALLOW_UNSECURED_STATIONS"] = str(self.unsecured_stations_allowed).lower()
        env["CSMS_API_KEYS"] = json.dumps(self.api_keys)
        return env

    def certificate_authority(self) -> CertificateAuthority:
        """The CA of station certificates: the operator's, or the development one."""
        if self.ca_cert and self.ca_key:
            return CertificateAuthority.load(self.ca_cert, self.ca_key)
        return CertificateAuthority.development(self.data_dir / "ca")

    def smtp(self) -> SmtpSettings | None:
        """Where e-mail alerts go out (None: no SMTP server configured)."""
        if not self.smtp_host:
            return None
        return SmtpSettings(
            host=self.smtp_host,
            port=self.smtp_port,
            sender=self.smtp_sender,
            username=self.smtp_username,
            password=self.smtp_password,
            starttls=self.smtp_starttls,
        )

    def gateway_config(self) -> GatewayConfig:
        """The gateway node's configuration."""
        return GatewayConfig(
            node_id=self.node_id,
            host=self.gateway_host,
            port=self.gateway_port,
            unknown_stations=self.unknown_stations,
            allow_unsecured_stations=self.unsecured_stations_allowed,
            spool_path=str(self.data_dir / f"spool-{self.node_id}.db"),
            heartbeat_interval_s=self.heartbeat_interval_s,
            ping_interval_s=self.ping_interval_s,
            metrics_port=self.gateway_metrics_port,
            ping_timeout_s=self.ping_timeout_s,
            silent_after_s=self.silent_after_s,
            health=HealthSettings(
                offline_after_s=self.offline_after_s,
                offline_incident_after_s=self.offline_incident_after_s,
                max_resets_per_day=self.max_resets_per_day,
                set_monitors=self.health_monitors,
            ),
            tls=TlsFiles(
                self.tls_cert,
                self.tls_key,
                self.tls_client_ca,
                self.tls_second_cert,
                self.tls_second_key,
            )
            if self.tls_cert and self.tls_key
            else None,
            tls_port=self.tls_port,
            ocsp_responder_hosts=tuple(self.ocsp_responder_hosts),
            contract_provider=self.contract_provider,
            message_log=self.message_log,
            message_log_retention_days=self.message_log_retention_days,
            temporal_address=self.temporal_address,
            temporal_namespace=self.temporal_namespace,
            task_queue=self.task_queue,
        )
