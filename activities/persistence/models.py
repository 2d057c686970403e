"""The relational model of the CSMS (SQLAlchemy 2.0 typed declarative mapping).

Identifiers chosen by chargers or operators (station ids, id tokens, site ids)
are natural string keys; records the system creates get integer keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from activities.persistence.types import ExactDecimal, UTCDateTime
from workflows.domain import remote_session_workflow_id, session_workflow_id

# Deterministic constraint names keep Alembic migrations identical on both engines.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit id.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with the shared naming convention."""

    metadata = MetaData(naming_convention=NAMING)


class Site(Base):
    """A location with chargers: its time zone, and the flat energy price that prices
    its sessions when no tariff is assigned."""

    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    price_per_kwh: Mapped[Decimal] = mapped_column(ExactDecimal())
    currency: Mapped[str] = mapped_column(String(3))
    # IANA name: tariffs' times of day and days of week are the site's local ones.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    stations: Mapped[list[Station]] = relationship(back_populates="site")


class Station(Base):
    """A charging station (charge point), identified by its OCPP identity."""

    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"), index=True)
    vendor: Mapped[str | None] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(50))
    serial_number: Mapped[str | None] = mapped_column(String(50))
    firmware_version: Mapped[str | None] = mapped_column(String(50))
    ocpp_version: Mapped[str | None] = mapped_column(String(10))
    # "accepted" stations boot normally; "pending" await an operator's approval;
    # "rejected" ones are told so at every boot.
    registration_status: Mapped[str] = mapped_column(String(16), default="accepted")
    security_profile: Mapped[int] = mapped_column(Integer, default=0)
    # A higher profile the station was given a network profile for (SetNetworkProfile):
    # it becomes the profile at its first connection that meets it, never lower after.
    pending_security_profile: Mapped[int | None] = mapped_column(Integer)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # Passwords sent to the station and not yet confirmed (rotations), one hash a line:
    # the handshake takes them too, so a rotation whose answer was lost (or a second
    # one sent after it) never locks the station out.
    pending_password_hash: Mapped[str | None] = mapped_column(Text)
    last_boot_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Liveness as the gateway sees it (connected, booting, online, silent, offline),
    # and health as the station's health workflow judges it (healthy, degraded, ...).
    liveness: Mapped[str | None] = mapped_column(String(16))
    liveness_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    health: Mapped[str | None] = mapped_column(String(16))
    health_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    health_reason: Mapped[str | None] = mapped_column(Text)

    site: Mapped[Site | None] = relationship(back_populates="stations")
    connectors: Mapped[list[Connector]] = relationship(
        back_populates="station", order_by=lambda: [Connector.evse_id, Connector.connector_id]
    )


class Connector(Base):
    """Status of one connector of one EVSE; EVSE 0 stands for the whole station.

    OCPP 1.6 has no EVSEs: its connector ``n`` is stored as EVSE ``n``, connector ``n``.
    """

    __tablename__ = "connectors"

    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id"), primary_key=True)
    evse_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connector_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(50))
    info: Mapped[str | None] = mapped_column(String(50))
    vendor_error_code: Mapped[str | None] = mapped_column(String(50))
    status_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # 2.x: the charging state of the transaction on it (TransactionEvent
    # chargingState: Charging, SuspendedEV, ...), its own timeline beside ``status``.
    charging_state: Mapped[str | None] = mapped_column(String(32))
    charging_state_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    station: Mapped[Station] = relationship(back_populates="connectors")


class IdToken(Base):
    """An authorization token (RFID card, app account) and its standing."""

    __tablename__ = "id_tokens"

    id_token: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_type: Mapped[str] = mapped_column(String(20), default="rfid")
    # accepted | blocked | invalid; expiry is computed from expires_at.
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    group_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The billing account that pays for its sessions (None: ad hoc / roaming).
    account_id: Mapped[str | None] = mapped_column(ForeignKey("billing_accounts.id"), index=True)


class Transaction(Base):
    """A charging transaction as reported by the charger.

    ``id`` is the integer transaction id handed to OCPP 1.6 chargers;
    ``transaction_ref`` is the version-neutral string id (the charger's own in 2.x).
    """

    __tablename__ = "transactions"
    # A station's id is unique among its open transactions: 2.x stations may reuse
    # one after the transaction ended (each use is its own row and session).
    __table_args__ = (
        Index(
            "uq_transactions_open_ref",
            "station_id",
            "transaction_ref",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_transactions_station_ref", "station_id", "transaction_ref"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transaction_ref: Mapped[str | None] = mapped_column(String(64))
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id"), index=True)
    site_id: Mapped[str | None] = mapped_column(String(64), index=True)
    evse_id: Mapped[int] = mapped_column(Integer, default=1)
    connector_id: Mapped[int] = mapped_column(Integer)
    # 2.x transactions may start before anyone presented a token (2.1 allows 255 chars).
    id_token: Mapped[str | None] = mapped_column(String(255))
    # Identical retried StartTransaction messages share this key and get the same id.
    start_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    # None when a 2.x charger reported no register reading at the start.
    meter_start_wh: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    meter_stop_wh: Mapped[int | None] = mapped_column(BigInteger)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    stop_reason: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    ocpp_version: Mapped[str] = mapped_column(String(10), default="1.6")
    remote_start_id: Mapped[int | None] = mapped_column(Integer)
    # The session workflow's id when it is not the default (a remote start's).
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    # Sequence numbers of the 2.x TransactionEvents received, to drop repeats and spot gaps.
    seq_nos: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def ref(self) -> str:
        """The transaction's id as the charger knows it (1.6: the primary key)."""
        return self.transaction_ref or str(self.id)

    @property
    def session_workflow(self) -> str:
        """The id of the session workflow that follows this transaction."""
        return self.workflow_id or session_workflow_id(self.station_id, self.ref)

    @property
    def session_input_is_start(self) -> bool:
        """Whether its session workflow runs with the transaction's start as input: every
        session but one a remote start began (that one runs with the request)."""
        # A claim stores the remote start's id and its workflow's; nothing else does.
        return self.remote_start_id is None or self.workflow_id != remote_session_workflow_id(
            self.station_id, self.remote_start_id
        )


class StationEvent(Base):
    """A notification worth keeping (firmware, log upload, security, report, limit, needs)."""

    __tablename__ = "station_events"
    __table_args__ = (Index("ix_station_events_station_time", "station_id", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StationCertificate(Base):
    """A station's certificate signing request and the certificate the CSMS issued."""

    __tablename__ = "station_certificates"
    __table_args__ = (Index("ix_station_certificates_station", "station_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(64))
    # ChargingStation (its TLS client certificate) or V2G.
    kind: Mapped[str] = mapped_column(String(20))
    csr: Mapped[str] = mapped_column(Text)
    # requested -> signed -> installed | rejected (by the station) | failed (not sent).
    status: Mapped[str] = mapped_column(String(16), default="requested")
    serial_number: Mapped[str | None] = mapped_column(String(64))
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    certificate: Mapped[str | None] = mapped_column(Text)
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MeterSample(Base):
    """One sampled value, normalised to Wh, W, A or V (see ``unit``)."""

    __tablename__ = "meter_samples"
    __table_args__ = (Index("ix_meter_samples_tx_time", "transaction_pk", "sampled_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transaction_pk: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"))
    station_id: Mapped[str] = mapped_column(String(64))
    evse_id: Mapped[int] = mapped_column(Integer, default=0)
    connector_id: Mapped[int] = mapped_column(Integer, default=0)
    sampled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    measurand: Mapped[str] = mapped_column(String(60))
    phase: Mapped[str | None] = mapped_column(String(8))
    location: Mapped[str | None] = mapped_column(String(10))
    context: Mapped[str | None] = mapped_column(String(30))
    unit: Mapped[str] = mapped_column(String(20))
    value: Mapped[float]


class ChargeDetailRecordRow(Base):
    """The priced record of a finished session; one per transaction, never changed
    (the database refuses an UPDATE): a correction is a credit or debit note.

    ``total_cost`` is what the driver pays (VAT included); ``cost_lines`` are the
    pricing engine's lines, ``charging_periods`` its OCPI periods and ``totals``
    the OCPI CDR totals, numbers as decimal text. ``tariff_id``/``tariff_version``
    name the tariff version that priced it (None: the site's flat price).
    ``price_per_kwh`` is the first energy line's unit price (excl. VAT).
    """

    __tablename__ = "charge_detail_records"
    # An account's CDRs of a period (invoicing): one index range, whatever the table's size.
    __table_args__ = (
        Index("ix_charge_detail_records_account_stopped", "account_id", "stopped_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    transaction_pk: Mapped[int] = mapped_column(ForeignKey("transactions.id"), unique=True)
    transaction_ref: Mapped[str] = mapped_column(String(64))
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    site_id: Mapped[str | None] = mapped_column(String(64), index=True)
    evse_id: Mapped[int] = mapped_column(Integer, default=1)
    connector_id: Mapped[int] = mapped_column(Integer)
    ocpp_version: Mapped[str] = mapped_column(String(10), default="1.6")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    energy_wh: Mapped[float]
    price_per_kwh: Mapped[Decimal] = mapped_column(ExactDecimal())
    currency: Mapped[str] = mapped_column(String(3))
    total_cost: Mapped[Decimal] = mapped_column(ExactDecimal())
    stop_reason: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    id_token: Mapped[str | None] = mapped_column(String(255))
    customer_group: Mapped[str | None] = mapped_column(String(20))
    tariff_id: Mapped[str | None] = mapped_column(String(36))
    tariff_version: Mapped[int | None] = mapped_column(Integer)
    total_excl_vat: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    total_vat: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    cost_lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    charging_periods: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    totals: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The account the token belonged to at settlement: who is invoiced for it.
    account_id: Mapped[str | None] = mapped_column(String(48))


class ConnectorStatusHistory(Base):
    """Every status a connector reported, and every 2.x charging state of its
    transaction (``source``: status | charging_state), as they happened; a session's
    charging, suspended and parked stretches are read from it."""

    __tablename__ = "connector_status_history"
    __table_args__ = (
        Index("ix_connector_status_history_station_evse_at", "station_id", "evse_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(64))
    evse_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))


class StationConnection(Base):
    """Connection registry: which gateway node holds a station's socket now."""

    __tablename__ = "station_connections"

    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64), index=True)
    connection_id: Mapped[str] = mapped_column(String(36))
    ocpp_version: Mapped[str] = mapped_column(String(10))
    remote_address: Mapped[str | None] = mapped_column(String(100))
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReconciliationItem(Base):
    """A message that could not be matched (e.g. StopTransaction for an unknown id)."""

    __tablename__ = "reconciliation_inbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    # What the operator did about it.
    resolution: Mapped[str | None] = mapped_column(Text)


class OutboxEvent(Base):
    """A lifecycle event committed with its cause, delivered to Temporal afterwards."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    node_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    workflow_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Set when the event can never be delivered (it does not decode, or Temporal refuses
    # it for good): the sweep passes it by, and operators see it in the dead letters.
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StationMessage(Base):
    """One OCPP exchange with a station, a CALL and its answer: the per-station
    message log (kept for a configurable number of days)."""

    __tablename__ = "station_messages"
    __table_args__ = (Index("ix_station_messages_station_at", "station_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(64))
    node_id: Mapped[str] = mapped_column(String(64))
    # "in": the charger called the CSMS; "out": the CSMS called the charger.
    direction: Mapped[str] = mapped_column(String(3))
    message_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(60))
    request: Mapped[Any] = mapped_column(JSON)
    # The CALLRESULT payload, or a CALLERROR's description and details (error_code
    # set); None when no answer came (error_code Timeout or Disconnected).
    response: Mapped[Any | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(40))
    duration_ms: Mapped[float]
    # When the answer was sent or received (or given up on).
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class RemoteStart(Base):
    """An operator's remote start awaiting (or matched to) the charger's transaction."""

    __tablename__ = "remote_starts"

    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    remote_start_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    id_token: Mapped[str] = mapped_column(String(255))
    evse_id: Mapped[int | None] = mapped_column(Integer)
    connector_id: Mapped[int | None] = mapped_column(Integer)
    workflow_id: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    transaction_pk: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"))
    # Set by the workflow when it stops waiting: no transaction is matched after that.
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Reservation(Base):
    """A connector (1.6) or EVSE (2.x) held for one id token until it expires."""

    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_station_status", "station_id", "status"),)

    # Keyed per station: ids are the station's to interpret, and two stations may
    # hold the same one without either losing its reservation.
    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    evse_id: Mapped[int | None] = mapped_column(Integer)
    connector_id: Mapped[int] = mapped_column(Integer)
    id_token: Mapped[str] = mapped_column(String(255))
    # Any token of this group may use it (1.6 parentIdTag, 2.x groupIdToken).
    group_id_token: Mapped[str | None] = mapped_column(String(36))
    # 2.x: any EVSE with a connector of this type (evse_id None).
    connector_type: Mapped[str | None] = mapped_column(String(20))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # requested -> active (charger accepted) | rejected; active -> used | cancelled | expired.
    status: Mapped[str] = mapped_column(String(16))
    workflow_id: Mapped[str] = mapped_column(String(200))
    transaction_pk: Mapped[int | None] = mapped_column(ForeignKey("transactions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LogUpload(Base):
    """A diagnostics (1.6) or log (2.x) upload the CSMS asked for, and the file it got."""

    __tablename__ = "log_uploads"
    __table_args__ = (UniqueConstraint("token"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    request_id: Mapped[int] = mapped_column(Integer)
    log_type: Mapped[str] = mapped_column(String(20))
    # The secret in the upload URL (chargers cannot present API keys): good for one
    # upload until it expires (none recorded: refused).
    token: Mapped[str] = mapped_column(String(64))
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    token_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # requested -> accepted | rejected; then the charger's statuses (Uploading,
    # Uploaded, UploadFailed, ...) and finally "received" when the file arrived.
    status: Mapped[str] = mapped_column(String(30))
    workflow_id: Mapped[str] = mapped_column(String(200))
    file_name: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    stored_path: Mapped[str | None] = mapped_column(String(500))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StationVariable(Base):
    """A configuration value as the station last reported it (1.6 GetConfiguration,
    2.x GetVariables or NotifyReport after GetBaseReport)."""

    __tablename__ = "station_variables"

    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # 1.6: the key. 2.x: Component[instance]@evse.connector.Variable[instance],
    # with ":<attribute type>" when it is not Actual.
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)
    readonly: Mapped[bool | None]
    source: Mapped[str] = mapped_column(String(30))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SiteCharging(Base):
    """A site's smart-charging configuration and its latest plan."""

    __tablename__ = "site_charging"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(default=True)
    last_plan: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Needs of an applied fleet plan, by charging point ("station#evse"): energy and
    # stay of the vehicle expected there (used instead of the site's defaults).
    fleet_needs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The highest average import (kW) the site's chargers drew over one measured
    # interval in the billing month ``peak_month`` ("2026-12", the site's local
    # month): paid for already, so plans may use the headroom below it. Measured
    # by the planning activity from the energy each session has received
    # (``load_mark``: when it last measured, and each session's kWh then).
    month_peak_kw: Mapped[float | None] = mapped_column(Float)
    peak_month: Mapped[str | None] = mapped_column(String(7))
    load_mark: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The number of the latest plan whose commands are in site_plan_commands.
    plan_number: Mapped[int] = mapped_column(Integer, default=0)


class SitePlanCommand(Base):
    """One command of a site's plan for one station, in the order it is sent.

    Plans live here, not in the site workflow's history: the workflow names the
    plan and the stations, and each gateway node reads its stations' commands
    (a plan for a thousand vehicles would not fit in a Temporal payload).
    """

    __tablename__ = "site_plan_commands"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    plan: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)


class FleetPlanRow(Base):
    """A fleet charging plan a depot manager requested: the request and the result."""

    __tablename__ = "fleet_plans"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    applied: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UtilityClient(Base):
    """A utility's OAuth2 client for the OpenADR 3 interface: who it is and which
    sites (resources) its programs and events may target. The secret is shown once,
    when the operator creates the client, and kept only as an Argon2id hash."""

    __tablename__ = "utility_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(Text)
    sites: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The key of the HMAC signature on every webhook call to the utility. Kept as it
    # is (a signature needs it), shown to the operator once, like the secret.
    webhook_secret: Mapped[str] = mapped_column(String(64))


class UtilityToken(Base):
    """An access token the token endpoint issued (its SHA-256, never the token)."""

    __tablename__ = "utility_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("utility_clients.client_id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # What it may do, space-separated (OpenADR 3 scopes: read_all, write_events, ...).
    scopes: Mapped[str] = mapped_column(String(200))


class DrProgram(Base):
    """An OpenADR 3 program of one utility; ``body`` is the object as served."""

    __tablename__ = "dr_programs"
    __table_args__ = (UniqueConstraint("client_id", "program_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("utility_clients.client_id"), index=True)
    program_name: Mapped[str] = mapped_column(String(128))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DrEvent(Base):
    """An OpenADR 3 event of one utility's program; ``body`` is the object as served,
    ``starts_at``/``ends_at`` its first interval's start and last interval's end."""

    __tablename__ = "dr_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("utility_clients.client_id"), index=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("dr_programs.id"), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DrReport(Base):
    """A compliance report of an event, served to its utility as an OpenADR 3 report."""

    __tablename__ = "dr_reports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("utility_clients.client_id"), index=True)
    # Not foreign keys: a report outlives its event's deletion.
    event_id: Mapped[str] = mapped_column(String(36), index=True)
    program_id: Mapped[str] = mapped_column(String(36))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DrOptOut(Base):
    """An operator's decision that a site does not take part in an event, and why (the
    utility reads it in the event's report)."""

    __tablename__ = "dr_opt_outs"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DrSubscription(Base):
    """A utility's OpenADR 3 subscription: which objects and operations call which
    webhook; ``body`` is the object as served (its bearer token included, as the
    specification has it read back)."""

    __tablename__ = "dr_subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("utility_clients.client_id"), index=True)
    program_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DrDelivery(Base):
    """One notification for one subscription's callback, and how its delivery went:
    written in the transaction of the change it reports (an outbox), delivered by
    its ``webhook:{id}`` workflow with retries. The bearer token is not copied here:
    it is read from the subscription at each attempt."""

    __tablename__ = "dr_deliveries"
    __table_args__ = (Index("ix_dr_deliveries_pending", "status", "started_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(36), index=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(16))
    operation: Mapped[str] = mapped_column(String(8))
    object_id: Mapped[str] = mapped_column(String(36))
    callback_url: Mapped[str] = mapped_column(Text)
    # The notification as sent (OpenADR 3: objectType, operation, object).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending, delivered, failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When its workflow was started (None: the sweeper starts it).
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DrBaseline(Base):
    """What a site's own plan would have drawn without an event, per slot from
    ``start``, recorded when the event first reached the site (its report's
    BASELINE)."""

    __tablename__ = "dr_baselines"

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    slot_minutes: Mapped[int] = mapped_column(Integer)
    kw: Mapped[list[float]] = mapped_column(JSON)
    # OK (the site's plan), or ESTIMATED (no plan: its draw just before, held)
    quality: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TariffVersion(Base):
    """One version of a tariff: the OCPI 2.2.1 Tariff object as it was written.

    A change is a new version; a version is never altered, so a CDR that names
    the version that priced it can always be re-priced.
    """

    __tablename__ = "tariff_versions"
    __table_args__ = (UniqueConstraint("tariff_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tariff_id: Mapped[str] = mapped_column(String(36), index=True)
    version: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    # The OCPI object with its numbers as decimal text (exact, unlike JSON floats).
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    parking_grace_s: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set on every version when the tariff is deleted (kept for the CDRs it priced).
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TariffAssignment(Base):
    """Which tariff prices sessions at a site, a station or one EVSE, per customer group.

    The most specific assignment wins: an EVSE's over its station's over its site's,
    and a customer group's own over ``public``.
    """

    __tablename__ = "tariff_assignments"
    __table_args__ = (UniqueConstraint("site_id", "station_id", "evse_id", "customer_group"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tariff_id: Mapped[str] = mapped_column(String(36), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), index=True)
    # Empty text, not NULL, for "the whole site" / "every EVSE": NULLs never collide
    # in a unique constraint, and two site-wide assignments must.
    station_id: Mapped[str] = mapped_column(String(64), default="")
    evse_id: Mapped[int] = mapped_column(Integer, default=0)
    customer_group: Mapped[str] = mapped_column(String(20), default="public")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BillingAccount(Base):
    """A customer who is invoiced: a fleet company, a resident, a driver.

    Owns id tokens (``IdToken.account_id``); each CDR names the account its token
    belonged to when the session settled. ``operator`` is the issuing company:
    invoice numbers run gap-free per operator and year.
    """

    __tablename__ = "billing_accounts"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # fleet | company | resident | driver
    customer_group: Mapped[str] = mapped_column(String(20), default="public")
    operator: Mapped[str] = mapped_column(String(48), default="default")
    email: Mapped[str | None] = mapped_column(String(254))
    # {line1, line2, postal_code, city, region, country (ISO 3166 alpha-2)}
    address: Mapped[dict[str, Any]] = mapped_column(JSON)
    currency: Mapped[str] = mapped_column(String(3))
    vat_id: Mapped[str | None] = mapped_column(String(20))  # compact, validated form
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=14)
    grouping: Mapped[str] = mapped_column(String(16), default="session")  # | station | token
    language: Mapped[str] = mapped_column(String(8), default="en")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    payment_provider: Mapped[str] = mapped_column(String(16), default="invoice")
    credit_limit: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Invoice(Base):
    """An issued invoice or credit note: numbered, never changed but for its payment.

    ``kind`` is ``invoice`` (one per account and period: re-running a period returns
    it) or ``credit_note`` (a correction of CDRs, in its own number series). Numbers
    run gap-free per operator, series and year (``invoice_counters``). ``account``
    is the account as printed, frozen at issue.
    """

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("account_id", "period", "kind"),
        UniqueConstraint("operator", "kind", "year", "seq"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(12))
    number: Mapped[str] = mapped_column(String(64), unique=True)
    operator: Mapped[str] = mapped_column(String(48))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[str] = mapped_column(ForeignKey("billing_accounts.id"), index=True)
    period: Mapped[str | None] = mapped_column(String(7))
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    currency: Mapped[str] = mapped_column(String(3))
    total_excl_vat: Mapped[Decimal] = mapped_column(ExactDecimal())
    total_vat: Mapped[Decimal] = mapped_column(ExactDecimal())
    total_incl_vat: Mapped[Decimal] = mapped_column(ExactDecimal())
    vat_breakdown: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    account: Mapped[dict[str, Any]] = mapped_column(JSON)
    cdr_count: Mapped[int] = mapped_column(Integer)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    # open (awaiting payment) | paid | failed | none (nothing to pay)
    payment_status: Mapped[str] = mapped_column(String(16), default="open")
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payment_reference: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InvoiceItem(Base):
    """A CDR billed on an invoice (once: the CDR's id is unique here), or corrected
    (``credit`` true, any number of times): by a credit note (the amounts given back)
    or a debit note (negative: the amounts charged on top)."""

    __tablename__ = "invoice_items"
    __table_args__ = (
        Index(
            "uq_invoice_items_billed_cdr",
            "cdr_id",
            unique=True,
            sqlite_where=text("credit = 0"),
            postgresql_where=text("credit = false"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    cdr_id: Mapped[int] = mapped_column(ForeignKey("charge_detail_records.id"), index=True)
    credit: Mapped[bool] = mapped_column(default=False)
    excl_vat: Mapped[Decimal] = mapped_column(ExactDecimal())
    vat: Mapped[Decimal] = mapped_column(ExactDecimal())


class InvoiceCounter(Base):
    """The last number used in one series of one operator in one year."""

    __tablename__ = "invoice_counters"

    operator: Mapped[str] = mapped_column(String(48), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class InvoiceDocument(Base):
    """An invoice rendered (pdf, csv), kept as issued."""

    __tablename__ = "invoice_documents"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), primary_key=True)
    format: Mapped[str] = mapped_column(String(8), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PaymentHoldRow(Base):
    """A card hold placed for an ad-hoc session not started yet: the first session on
    ``station_id`` with ``id_token`` that settles after it is captured from it
    (``cdr_id``, once: unique)."""

    __tablename__ = "payment_holds"
    __table_args__ = (Index("ix_payment_holds_waiting", "station_id", "id_token", "state"),)

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64))
    id_token: Mapped[str] = mapped_column(String(255))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[str] = mapped_column(String(12), default="held")  # held | closed
    cdr_id: Mapped[int | None] = mapped_column(ForeignKey("charge_detail_records.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BalanceEntry(Base):
    """A movement of an account's prepaid balance: a top-up (+), the debit of an
    invoice (-), a refund of a credit note (+). The balance is their sum; an
    invoice is debited at most once (``invoice_id`` unique among debits)."""

    __tablename__ = "balance_entries"
    __table_args__ = (
        Index(
            "uq_balance_entries_invoice",
            "invoice_id",
            unique=True,
            sqlite_where=text("invoice_id IS NOT NULL"),
            postgresql_where=text("invoice_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("billing_accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))  # topup | debit | refund
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    currency: Mapped[str] = mapped_column(String(3))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    reference: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FirmwareImage(Base):
    """A firmware image in the catalogue: which vendor's models it fits, where chargers
    download it, and how they check it (SHA-256; 2.x and 1.6-security signature)."""

    __tablename__ = "firmware_images"
    __table_args__ = (Index("ix_firmware_images_vendor", "vendor", "version"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    vendor: Mapped[str] = mapped_column(String(50))
    models: Mapped[list[str]] = mapped_column(JSON)
    version: Mapped[str] = mapped_column(String(50))
    location: Mapped[str] = mapped_column(String(512))
    sha256: Mapped[str] = mapped_column(String(64))
    # 2.0.1 PublishFirmware names an image by its MD5.
    md5: Mapped[str | None] = mapped_column(String(32))
    signature: Mapped[str | None] = mapped_column(String(800))
    signing_certificate: Mapped[str | None] = mapped_column(Text)
    release_notes: Mapped[str | None] = mapped_column(Text)
    # The version stations of its models should run.
    recommended: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FirmwareRolloutRow(Base):
    """A firmware campaign (``rollout:{id}``): the request as the operator sent it, and
    where it stands; each station's part is a :class:`FirmwareUpdateRow`."""

    __tablename__ = "firmware_rollouts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    image_id: Mapped[str] = mapped_column(ForeignKey("firmware_images.id"))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    targets: Mapped[int] = mapped_column(Integer)
    # running | paused | aborted | cancelled | completed
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FirmwareUpdateRow(Base):
    """One station's firmware update (a ``FirmwareUpdate`` workflow): its id is the
    ``requestId`` the charger's status notifications carry; ``status`` is where the
    CSMS sees it, ``charger_status`` what the charger last reported."""

    __tablename__ = "firmware_updates"
    __table_args__ = (
        Index("ix_firmware_updates_station", "station_id", "finished_at"),
        Index("ix_firmware_updates_rollout", "rollout_id"),
        Index("ix_firmware_updates_workflow", "workflow_id", "finished_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id"))
    image_id: Mapped[str] = mapped_column(ForeignKey("firmware_images.id"))
    rollout_id: Mapped[str | None] = mapped_column(ForeignKey("firmware_rollouts.id"))
    # firmware:{station} for each of a station's own updates, one run after another.
    workflow_id: Mapped[str] = mapped_column(String(200))
    from_version: Mapped[str | None] = mapped_column(String(50))
    target_version: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(40))
    charger_status: Mapped[str | None] = mapped_column(String(40))
    failure: Mapped[str | None] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FirmwareVersionSeen(Base):
    """A firmware version a station reported at boot that differs from the one before:
    the station's firmware history."""

    __tablename__ = "firmware_versions_seen"
    __table_args__ = (Index("ix_firmware_versions_seen_station", "station_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id"))
    version: Mapped[str | None] = mapped_column(String(50))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class LivenessChange(Base):
    """One transition of a station's liveness, with its cause."""

    __tablename__ = "liveness_changes"
    __table_args__ = (Index("ix_liveness_changes_station_at", "station_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    station_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16))
    previous: Mapped[str | None] = mapped_column(String(16))
    cause: Mapped[str | None] = mapped_column(String(200))
    node_id: Mapped[str] = mapped_column(String(64))


class FaultRule(Base):
    """An operator's classification rule; it wins over the built-in table.

    Every matcher left empty matches anything; ``vendor_error_code`` may end in ``*``
    (a prefix). Among matching rules the lowest ``priority`` wins, then the most
    specific (most matchers set).
    """

    __tablename__ = "fault_rules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str | None] = mapped_column(String(100))
    error_code: Mapped[str | None] = mapped_column(String(50))
    vendor_error_code: Mapped[str | None] = mapped_column(String(50))
    tech_code: Mapped[str | None] = mapped_column(String(50))
    vendor: Mapped[str | None] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(50))
    fault_class: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    playbook: Mapped[str] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Incident(Base):
    """A fault remediation could not clear, for a field visit: its evidence and state
    (open, acknowledged, resolved); at most one is open per station and fault."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_station_key", "station_id", "key", "state"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[str | None] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    fault_class: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), default="open")
    evse_id: Mapped[int] = mapped_column(Integer, default=0)
    connector_id: Mapped[int] = mapped_column(Integer, default=0)
    fault_since: Mapped[datetime] = mapped_column(UTCDateTime())
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    workflow_id: Mapped[str] = mapped_column(String(200))


class IncidentEvent(Base):
    """One line of an incident's timeline."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident_at", "incident_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))


class AlertRule(Base):
    """Who is told about incidents, how (signed webhook or e-mail) and from which
    severity; the same station and fault alert again only after ``repeat_after_s``."""

    __tablename__ = "alert_rules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(1000))
    # The webhook signing key (never shown after creation, never logged).
    secret: Mapped[str | None] = mapped_column(String(200))
    min_severity: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[str | None] = mapped_column(String(64))
    repeat_after_s: Mapped[float] = mapped_column(Float, default=3600.0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AlertDelivery(Base):
    """One alert to one rule's target about one incident's opening or resolution."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("rule_id", "incident_id", "event", name="uq_alert_deliveries_once"),
        Index("ix_alert_deliveries_rule_station", "rule_id", "station_id", "key", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    rule_id: Mapped[str] = mapped_column(ForeignKey("alert_rules.id"))
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"))
    station_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
