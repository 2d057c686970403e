"""Version-neutral charger commands (CSMS -> charger), their envelope and their failures.

The API validates a request body into one of the command dataclasses below;
the command travels through Temporal as a :class:`CommandRequest` (the
arguments as a plain dict, so one activity signature serves every command);
the gateway node holding the socket translates it into the OCPP action of the
charger's version and the charger's answer back into a :class:`CommandReply`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from optimizer.charging_profile import ChargingProfile
from workflows import certificate_commands as cert
from workflows import device_commands as dev
from workflows import profile_commands as prof


def gateway_task_queue(node_id: str) -> str:
    """The task queue on which gateway node ``node_id`` runs charger commands."""
    return f"gateway.{node_id}"


def command_workflow_id(station_id: str, request_id: str) -> str:
    """Business key of one command's workflow."""
    return f"command:{station_id}:{request_id}"


class CommandFailure:
    """``ApplicationError.type`` values of failed commands (the API maps each to a status)."""

    STATION_OFFLINE = "StationOffline"
    """No gateway node holds the station's socket (API: 409)."""
    TIMEOUT = "CommandTimeout"
    """The charger did not answer in time (API: 504)."""
    CHARGER_ERROR = "ChargerError"
    """The charger answered with a CALLERROR or a malformed response (API: 502)."""
    NOT_SUPPORTED = "CommandNotSupported"
    """The station's OCPP version has no such operation (API: 422)."""
    INVALID = "InvalidCommand"
    """The arguments do not fit the station's OCPP version (API: 422)."""
    MOVED = "StationMoved"
    """The station left this node between lookup and delivery (re-routed, never surfaced)."""
    EXPIRED = "CommandExpired"
    """Not sent: no worker took the command before its deadline (API: 504). A Reset or
    an unlock that arrives a minute late is an unexpected action, not a late answer."""


def _positive(name: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{name} must not be negative")


@dataclass(frozen=True)
class RemoteStart:
    """Ask the charger to start a transaction for ``id_token``."""

    id_token: str
    evse_id: int | None = None
    connector_id: int | None = None
    token_type: str = "ISO14443"
    # Correlates the charger's transaction with this request (2.x remoteStartId).
    remote_start_id: int | None = None
    # The TxProfile the transaction starts under (K05 / TC_059).
    charging_profile: prof.StartProfile | None = None

    def __post_init__(self) -> None:
        if not self.id_token:
            raise ValueError("id_token must not be empty")
        _positive("evse_id", self.evse_id)
        _positive("connector_id", self.connector_id)


@dataclass(frozen=True)
class RemoteStop:
    """Ask the charger to stop a transaction (its id as the charger knows it)."""

    transaction_id: str


@dataclass(frozen=True)
class Reset:
    """Reboot the charger. 1.6 knows soft/hard; 2.x knows immediate/on idle (and EVSEs)."""

    kind: Literal["soft", "hard"] = "soft"
    when: Literal["immediate", "idle"] = "immediate"
    evse_id: int | None = None


@dataclass(frozen=True)
class UnlockConnector:
    """Release the cable lock of one connector."""

    connector_id: int = 1
    evse_id: int = 1


@dataclass(frozen=True)
class ChangeAvailability:
    """Make the station (no EVSE), an EVSE or a connector operative or inoperative."""

    operative: bool
    evse_id: int | None = None
    connector_id: int | None = None

    def __post_init__(self) -> None:
        _positive("evse_id", self.evse_id)
        _positive("connector_id", self.connector_id)


@dataclass(frozen=True)
class GetConfiguration:
    """Read configuration: 1.6 keys, or 2.x ``Component.Variable`` names (all keys when empty
    in 1.6; 2.x needs names, or a base report)."""

    keys: list[str] = field(default_factory=list)


SECRET_SETTINGS = frozenset({"authorizationkey", "securityctrlr.basicauthpassword"})
"""Settings whose value is a station's password (1.6 key, 2.x component.variable), as
:func:`is_secret_setting` compares them: OCPP's keys and names are case-insensitive."""


def is_secret_setting(key: str | None) -> bool:
    """Whether ``key`` names a station's password, in any letter case."""
    return key is not None and key.strip().casefold() in SECRET_SETTINGS


@dataclass(frozen=True)
class ChangeConfiguration:
    """Set one configuration value: a 1.6 key, or a 2.x ``Component.Variable`` name.

    ``key_2x`` names the same setting for 2.x stations, so one command serves a
    mixed fleet (``HeartbeatInterval`` / ``OCPPCommCtrlr.HeartbeatInterval``).
    """

    key: str
    value: str
    key_2x: str | None = None

    def __post_init__(self) -> None:
        # A password set this way would travel through the workflow's history and the
        # API's logs: rotate-password generates it at the gateway instead.
        if is_secret_setting(self.key) or is_secret_setting(self.key_2x):
            raise ValueError(
                "station passwords are not set by change-configuration: use rotate-password"
            )


@dataclass(frozen=True)
class Setting:
    """One value of a :class:`SetVariables`: a 1.6 key or a 2.x ``Component.Variable``
    (``key_2x`` names it for 2.x stations of a mixed fleet)."""

    key: str
    value: str
    key_2x: str | None = None

    def __post_init__(self) -> None:
        if is_secret_setting(self.key) or is_secret_setting(self.key_2x):
            raise ValueError("station passwords are not set by set-variables: use rotate-password")


@dataclass(frozen=True)
class SetVariables:
    """Set several values in one command: 2.x sends them in as few SetVariables as
    the station's ``ItemsPerMessage`` / ``BytesPerMessage`` allow; 1.6 sends one
    ChangeConfiguration each. The status is Accepted only if every value was."""

    settings: list[Setting]

    def __post_init__(self) -> None:
        if not self.settings:
            raise ValueError("give at least one setting")
        keys = [s.key_2x or s.key for s in self.settings]
        if len(set(keys)) != len(keys):
            raise ValueError("each key once")


@dataclass(frozen=True)
class GetBaseReport:
    """2.x only: the charger sends its variables as NotifyReport messages."""

    report_base: Literal["ConfigurationInventory", "FullInventory", "SummaryInventory"] = (
        "FullInventory"
    )
    request_id: int | None = None


@dataclass(frozen=True)
class TriggerMessage:
    """Ask the charger to send a message now (e.g. ``StatusNotification``)."""

    message: str
    evse_id: int | None = None
    connector_id: int | None = None


@dataclass(frozen=True)
class ClearCache:
    """Empty the charger's authorization cache."""


@dataclass(frozen=True)
class LocalListEntry:
    """One id token of a local authorization list; no status removes it (differential)."""

    id_token: str
    status: Literal["Accepted", "Blocked", "Expired", "Invalid"] | None = "Accepted"
    token_type: str = "ISO14443"
    expires_at: datetime | None = None


@dataclass(frozen=True)
class SendLocalList:
    """Replace (full) or amend (differential) the charger's local authorization list."""

    list_version: int
    update_type: Literal["Full", "Differential"] = "Full"
    entries: list[LocalListEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.list_version < 1:
            raise ValueError("list_version must be at least 1")


@dataclass(frozen=True)
class GetLocalListVersion:
    """The version number of the charger's local authorization list."""


@dataclass(frozen=True)
class ReserveNow:
    """Reserve a connector (1.6) or EVSE (2.x) for one id token until ``expires_at``."""

    reservation_id: int
    id_token: str
    expires_at: datetime
    connector_id: int = 1
    evse_id: int | None = None
    token_type: str = "ISO14443"
    # 2.x: any EVSE with a connector of this type (no evse_id).
    connector_type: str | None = None
    # Another token of the same group may use the reservation (1.6 parentIdTag).
    group_id_token: str | None = None


@dataclass(frozen=True)
class CancelReservation:
    """Cancel a reservation."""

    reservation_id: int


@dataclass(frozen=True)
class UploadLogs:
    """Upload diagnostics (1.6 GetDiagnostics) or a log (2.x GetLog) to ``location``."""

    location: str
    request_id: int = 1
    log_type: Literal["DiagnosticsLog", "SecurityLog"] = "DiagnosticsLog"
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class UpdateFirmware:
    """Download and install firmware from ``location``.

    With a signature and its signing certificate a 1.6 station gets the security
    extension's SignedUpdateFirmware and a 2.x station the signed firmware fields;
    ``request_id`` then ties the charger's status notifications to this request.
    """

    location: str
    request_id: int
    retrieve_at: datetime | None = None
    install_at: datetime | None = None
    retries: int | None = None
    retry_interval_s: int | None = None
    signature: str | None = None
    signing_certificate: str | None = None

    def __post_init__(self) -> None:
        if not self.location:
            raise ValueError("location must not be empty")
        if (self.signature is None) != (self.signing_certificate is None):
            raise ValueError("a signature needs its signing certificate, and the other way")
        _positive("request_id", self.request_id)
        _positive("retries", self.retries)
        _positive("retry_interval_s", self.retry_interval_s)


@dataclass(frozen=True)
class PublishFirmware:
    """2.0.1 local controller: download the image and serve it to the stations behind it
    (``checksum``: the image's MD5, as OCPP asks)."""

    location: str
    checksum: str
    request_id: int
    retries: int | None = None
    retry_interval_s: int | None = None


@dataclass(frozen=True)
class UnpublishFirmware:
    """2.0.1 local controller: stop serving the image with this MD5 checksum."""

    checksum: str


@dataclass(frozen=True)
class DataTransfer:
    """A vendor-specific message."""

    vendor_id: str
    message_id: str | None = None
    data: str | None = None


@dataclass(frozen=True)
class SetChargingProfile:
    """Install a version-neutral charging profile; the gateway encodes it in the OCPP
    version the station speaks."""

    profile: ChargingProfile | None = None
    # Commands queued by earlier versions carry both encodings instead of a profile.
    request_16: dict[str, Any] | None = None
    request_2x: dict[str, Any] | None = None


@dataclass(frozen=True)
class ClearChargingProfile:
    """Remove charging profiles: one by id, or those matching EVSE/purpose/stack level."""

    profile_id: int | None = None
    evse_id: int | None = None
    purpose: Literal["TxProfile", "StationMax", "TxDefaultProfile"] | None = None
    stack_level: int | None = None


@dataclass(frozen=True)
class RotatePassword:
    """Give the charger a new HTTP Basic password (1.6 AuthorizationKey, 2.x
    BasicAuthPassword). The gateway node generates it and stores its hash once the
    charger accepts, so the secret never appears in a request, a log or a history."""


COMMANDS: dict[str, type[Any]] = {
    "remote-start": RemoteStart,
    "remote-stop": RemoteStop,
    "reset": Reset,
    "unlock-connector": UnlockConnector,
    "change-availability": ChangeAvailability,
    "get-configuration": GetConfiguration,
    "change-configuration": ChangeConfiguration,
    "set-variables": SetVariables,
    "get-base-report": GetBaseReport,
    "trigger-message": TriggerMessage,
    "clear-cache": ClearCache,
    "send-local-list": SendLocalList,
    "get-local-list-version": GetLocalListVersion,
    "reserve-now": ReserveNow,
    "cancel-reservation": CancelReservation,
    "upload-logs": UploadLogs,
    "update-firmware": UpdateFirmware,
    "publish-firmware": PublishFirmware,
    "unpublish-firmware": UnpublishFirmware,
    "data-transfer": DataTransfer,
    "rotate-password": RotatePassword,
    "set-charging-profile": SetChargingProfile,
    "clear-charging-profile": ClearChargingProfile,
    "operator-charging-profile": prof.OperatorChargingProfile,
    "get-charging-profiles": prof.GetChargingProfiles,
    "get-composite-schedule": prof.GetCompositeSchedule,
    "set-display-message": dev.SetDisplayMessage,
    "get-display-messages": dev.GetDisplayMessages,
    "clear-display-message": dev.ClearDisplayMessage,
    "set-variable-monitoring": dev.SetVariableMonitoring,
    "clear-variable-monitoring": dev.ClearVariableMonitoring,
    "set-monitoring-base": dev.SetMonitoringBase,
    "set-monitoring-level": dev.SetMonitoringLevel,
    "get-monitoring-report": dev.GetMonitoringReport,
    "get-report": dev.GetReport,
    "customer-information": dev.CustomerInformation,
    "set-network-profile": dev.SetNetworkProfile,
    "get-transaction-status": dev.GetTransactionStatus,
    "cost-updated": dev.CostUpdated,
    "install-certificate": cert.InstallCertificate,
    "get-installed-certificate-ids": cert.GetInstalledCertificateIds,
    "delete-certificate": cert.DeleteCertificate,
    "certificate-signed": cert.CertificateSigned,
}
"""Every command by its name in the API (``POST /stations/{id}/commands/{name}``)."""

COMMAND_NAMES = {kind: name for name, kind in COMMANDS.items()}


@dataclass(frozen=True)
class CommandRequest:
    """One command for one station, as it travels through Temporal."""

    station_id: str
    command: str
    arguments: dict[str, Any]
    request_id: str
    timeout_s: float = 30.0
    # The node the sender saw in the registry (saves the workflow a lookup; a
    # stale hint costs one re-route).
    node_hint: str | None = None
    # The latest moment the command may still be sent (an operator's request waits a
    # bounded time; past it, sending would surprise whoever asked). None: no limit.
    send_by: datetime | None = None

    @classmethod
    def of(
        cls,
        station_id: str,
        command: Any,
        request_id: str,
        timeout_s: float = 30.0,
        node_hint: str | None = None,
        send_by: datetime | None = None,
    ) -> CommandRequest:
        """The envelope of a command dataclass."""
        return cls(
            station_id=station_id,
            command=COMMAND_NAMES[type(command)],
            arguments=asdict(command),
            request_id=request_id,
            timeout_s=timeout_s,
            node_hint=node_hint,
            send_by=send_by,
        )

    def expired(self, now: datetime) -> bool:
        """Whether it is too late to send the command."""
        return self.send_by is not None and now > self.send_by


@dataclass(frozen=True)
class CommandReply:
    """What the charger answered, in neutral terms and as sent."""

    station_id: str
    command: str
    ocpp_version: str
    action: str
    status: str | None
    # Neutral results that are more than a status (configuration values, list version).
    data: dict[str, Any]
    response: dict[str, Any]
    node_id: str
    round_trip_ms: float


@dataclass(frozen=True)
class CommandOutcome:
    """One station's part of a batch: the reply, or the failure's type and reason."""

    station_id: str
    reply: CommandReply | None = None
    error: str | None = None
    reason: str | None = None
