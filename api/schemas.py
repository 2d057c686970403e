"""Request and response bodies of the API (units in field names: Wh, W, per kWh)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

EARLIEST, LATEST = 1970, 9000
"""Years a timestamp may name (the edges of datetime overflow on conversion)."""


def _assume_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value.year <= LATEST:
        raise ValueError(f"year {value.year} is outside {EARLIEST}..{LATEST}")
    return value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_assume_utc)]
"""A timestamp in UTC; one written without an offset is read as UTC."""

Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._:\-]+$")
]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


def _iana_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone") from None
    return name


TimeZone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_iana_zone),
    Field(description="an IANA time zone: tariffs' times of day are local to it"),
]


class ORM(BaseModel):
    """Response models read straight from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class SiteIn(BaseModel):
    """A new site."""

    id: Identifier
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    price_per_kwh: Decimal = Field(
        ge=0,
        max_digits=12,
        decimal_places=6,
        description="excl. VAT; prices the site's sessions when no tariff is assigned",
    )
    currency: Currency = "EUR"
    time_zone: TimeZone = "UTC"


class SiteOut(ORM):
    """A site."""

    id: str
    name: str
    price_per_kwh: Decimal
    currency: str
    time_zone: str
    created_at: datetime


class StationIn(BaseModel):
    """Registration of a station before it first connects."""

    id: Identifier
    site_id: str | None = None
    password: Annotated[str, StringConstraints(min_length=16, max_length=40)] | None = Field(
        default=None,
        description="HTTP Basic password (security profiles 1 and 2); 16-40 characters",
    )
    security_profile: int | None = Field(
        default=None,
        ge=0,
        le=3,
        description="0 none (development only: refused unless the deployment allows "
        "unsecured stations), 1 Basic auth, 2 TLS + Basic auth, 3 TLS client certificate; "
        "default 1 with a password. Without a password and without profile 3, profile 0 "
        "must be chosen explicitly.",
    )
    ocpp_version: Literal["1.6", "2.0.1", "2.1"] | None = Field(
        default=None, description="preferred when the station offers several versions"
    )

    @model_validator(mode="after")
    def _profile_fits_credentials(self) -> StationIn:
        if self.security_profile is None:
            if not self.password:
                # Anyone who knows the id could take an unauthenticated station's socket.
                raise ValueError(
                    "no password: give one (security profile 1), or choose security_profile "
                    "3 (client certificate) or 0 (no authentication, development only)"
                )
            self.security_profile = 1
        if self.security_profile in (1, 2) and not self.password:
            raise ValueError(f"security profile {self.security_profile} needs a password")
        return self


class ApprovalIn(BaseModel):
    """What an operator decides when accepting a pending station."""

    site_id: str | None = None
    password: Annotated[str, StringConstraints(min_length=16, max_length=40)] | None = None
    security_profile: int | None = Field(default=None, ge=0, le=3)

    @model_validator(mode="after")
    def _profile_fits_credentials(self) -> ApprovalIn:
        if self.security_profile in (1, 2) and not self.password:
            raise ValueError(f"security profile {self.security_profile} needs a password")
        return self


class StationEventOut(ORM):
    """A notification the station sent (firmware, logs, security, reports, limits...)."""

    id: int
    kind: str
    payload: dict[str, Any]
    received_at: datetime


class StationCertificateOut(ORM):
    """A station's certificate signing request and the certificate issued for it."""

    id: int
    kind: str
    status: str
    serial_number: str | None
    not_after: datetime | None
    certificate: str | None
    workflow_id: str | None
    created_at: datetime
    updated_at: datetime


class StationMessageOut(ORM):
    """One logged OCPP exchange: ``in`` the charger called, ``out`` the CSMS called."""

    id: int
    direction: Literal["in", "out"]
    message_id: str
    action: str
    request: Any
    response: Any = Field(
        description="the answer's payload, a CALLERROR's description and details, or null"
    )
    error_code: str | None = Field(
        description="the CALLERROR code, or Timeout / Disconnected when no answer came"
    )
    duration_ms: float = Field(description="from the CALL to its answer")
    node_id: str
    at: datetime


class StationVariableOut(ORM):
    """A configuration value as the station last reported it."""

    key: str = Field(description="1.6 key, or 2.x Component.Variable (with instance/EVSE)")
    value: str | None
    readonly: bool | None
    source: str = Field(description="GetConfiguration, NotifyReport or ChangeConfiguration")
    updated_at: datetime


class ConnectorOut(ORM):
    """A connector's last reported status (EVSE 0 is the whole station)."""

    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    status_at: datetime


class StationOut(ORM):
    """A station with its live state."""

    id: str
    site_id: str | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    ocpp_version: str | None
    registration_status: str
    security_profile: int
    last_boot_at: datetime | None
    online: bool = False
    gateway_node: str | None = None
    connected_at: datetime | None = None
    connectors: list[ConnectorOut] = []


TokenStatus = Literal["accepted", "blocked", "invalid"]


class IdTokenIn(BaseModel):
    """A new id token."""

    id_token: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    token_type: Literal["rfid", "app", "central"] = "rfid"
    status: TokenStatus = "accepted"
    expires_at: UtcDateTime | None = None
    group_id: Annotated[str, StringConstraints(max_length=20)] | None = None


class IdTokenPatch(BaseModel):
    """A change to an id token; omitted fields stay as they are, null clears expiry or group."""

    status: TokenStatus | None = None
    expires_at: UtcDateTime | None = None
    group_id: Annotated[str, StringConstraints(max_length=20)] | None = None

    @field_validator("status")
    @classmethod
    def _status_not_null(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("status cannot be null; omit it to keep it")
        return value


class IdTokenOut(ORM):
    """An id token."""

    id_token: str
    token_type: str
    status: str
    expires_at: datetime | None
    group_id: str | None
    account_id: str | None = Field(None, description="the billing account it is charged to")
    created_at: datetime


class CostLineOut(BaseModel):
    """One priced quantity: a tariff's price component times its volume."""

    dimension: str = Field(description="ENERGY, TIME, PARKING_TIME, FLAT, MIN_PRICE or MAX_PRICE")
    category: str = Field(description="energy, time, parking, fixed or reservation")
    element: int | None = Field(description="index of the tariff element that priced it")
    quantity: Decimal
    unit: str
    unit_price: Decimal = Field(description="excl. VAT")
    vat_rate: Decimal | None
    excl_vat: Decimal
    vat: Decimal
    incl_vat: Decimal


class CdrDimensionOut(BaseModel):
    """An OCPI CdrDimension."""

    type: str
    volume: Decimal


class CdrPeriodOut(BaseModel):
    """An OCPI 2.2.1 CdrChargingPeriod (plus where it ends)."""

    start_date_time: datetime
    end_date_time: datetime
    dimensions: list[CdrDimensionOut]
    tariff_id: str | None


class CdrOut(ORM):
    """A charge detail record: never changed once written.

    ``total_cost`` is what the driver pays (VAT included). ``tariff_id`` and
    ``tariff_version`` name the tariff version that priced it (null: the site's flat
    price); ``cost_lines`` and ``charging_periods`` are how (null on CDRs written
    before tariffs priced them).
    """

    id: int
    transaction_id: str = Field(validation_alias="transaction_ref")
    session_id: int = Field(validation_alias="transaction_pk")
    station_id: str
    site_id: str | None
    ocpp_version: str
    evse_id: int
    connector_id: int
    id_token: str | None
    account_id: str | None = Field(description="the account its token belonged to at settlement")
    customer_group: str | None
    started_at: datetime
    stopped_at: datetime
    energy_wh: float
    price_per_kwh: Decimal = Field(description="the first energy line's unit price, excl. VAT")
    currency: str
    total_cost: Decimal
    total_excl_vat: Decimal | None
    total_vat: Decimal | None
    tariff_id: str | None
    tariff_version: int | None
    cost_lines: list[CostLineOut] | None
    charging_periods: list[CdrPeriodOut] | None
    totals: dict[str, Any] | None = Field(description="the totals in an OCPI 2.2.1 CDR's shape")
    stop_reason: str | None
    notes: list[str]
    created_at: datetime


class SessionOut(ORM):
    """A charging session (one transaction)."""

    id: int
    transaction_id: str | None = Field(validation_alias="transaction_ref")
    station_id: str
    site_id: str | None
    evse_id: int
    connector_id: int
    status: str
    ocpp_version: str
    meter_start_wh: int | None
    started_at: datetime
    meter_stop_wh: int | None
    stopped_at: datetime | None
    stop_reason: str | None
    workflow_id: str | None = Field(None, description="the session workflow in Temporal")


class MeterSampleOut(ORM):
    """One meter sample, normalised (energy Wh, power W)."""

    sampled_at: datetime
    measurand: str
    phase: str | None
    location: str | None
    context: str | None
    unit: str
    value: float


class LiveSession(BaseModel):
    """The session right now: its workflow's state, and energy and power from the stored
    samples."""

    state: str
    energy_so_far_wh: float
    power_w: float | None
    stopped_at: datetime | None
    stop_reason: str | None


class SessionDetail(SessionOut):
    """A session with its live workflow state, samples and CDR."""

    live: LiveSession | None = None
    live_error: str | None = None
    samples: list[MeterSampleOut] = []
    cdr: CdrOut | None = None
