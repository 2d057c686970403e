"""Firmware's version-neutral types: images as chargers need them, a station's update
request and outcome, the charger's statuses by step, failure classes, and a
campaign's settings and progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class FailureClass:
    """Why an update failed; a campaign's abort criteria count each class."""

    DOWNLOAD_FAILED = "download_failed"
    INSTALL_FAILED = "install_failed"
    SIGNATURE_INVALID = "signature_invalid"
    TIMED_OUT = "timed_out"
    DID_NOT_COME_BACK = "did_not_come_back"
    REJECTED = "rejected"
    """The charger refused the request, or could not be reached to receive it."""
    BUSY = "busy"
    """A session kept the station busy for longer than the update may wait."""

    ALL = (
        DOWNLOAD_FAILED,
        INSTALL_FAILED,
        SIGNATURE_INVALID,
        TIMED_OUT,
        DID_NOT_COME_BACK,
        REJECTED,
        BUSY,
    )


# The charger's statuses (1.6 FirmwareStatusNotification, 1.6 security
# SignedFirmwareStatusNotification, 2.0.1 and 2.1 FirmwareStatusNotification).
DOWNLOADED = frozenset(
    {
        "Downloaded",
        "SignatureVerified",
        "InstallScheduled",
        "Installing",
        "InstallRebooting",
        "Installed",
    }
)
"""Statuses that end the download step."""
INSTALLED = frozenset({"InstallRebooting", "Installed"})
"""Statuses that end the install step (the reboot follows)."""
INSTALLING = frozenset({"Installing"}) | INSTALLED
"""From these on, a boot on the old version means the install did not take."""
FAILED = {
    "DownloadFailed": FailureClass.DOWNLOAD_FAILED,
    "InvalidSignature": FailureClass.SIGNATURE_INVALID,
    "InstallationFailed": FailureClass.INSTALL_FAILED,
    "InstallVerificationFailed": FailureClass.INSTALL_FAILED,
}
"""Charger statuses that end the update as failed, by class."""
COMMAND_FAILED = {
    "InvalidCertificate": FailureClass.SIGNATURE_INVALID,
    "RevokedCertificate": FailureClass.SIGNATURE_INVALID,
}
"""Answers to UpdateFirmware that are failures of a class of their own."""


@dataclass(frozen=True)
class FirmwareImageRef:
    """What a charger needs of a catalogue image."""

    image_id: str
    version: str
    location: str
    signature: str | None = None
    signing_certificate: str | None = None


@dataclass(frozen=True)
class StepTimeouts:
    """How long each step may take before the update has timed out."""

    idle_wait_s: int = 4 * 3600
    download_s: int = 3600
    install_s: int = 1800
    boot_s: int = 900
    command_s: float = 30.0
    retries: int | None = 3
    retry_interval_s: int | None = 60


@dataclass(frozen=True)
class FirmwareUpdateRequest:
    """Update one station to ``image``."""

    station_id: str
    image: FirmwareImageRef
    rollout_id: str | None = None
    timeouts: StepTimeouts = field(default_factory=StepTimeouts)
    # Do not send after this moment (the end of the site's maintenance window): the
    # update is then ``deferred`` and its campaign tries again in the next window.
    not_after: datetime | None = None
    # The station's OCPP version ("1.6", "2.0.1", "2.1"), where the caller knows it.
    ocpp_version: str | None = None
    # 2.x stations' AllowNewSessionsPendingFirmwareUpdate, set before the update (None
    # leaves the station's own setting). False: the station refuses new sessions and
    # installs once the running ones end, so the update goes out at once and the
    # station drains itself; True (or a 1.6 station): the CSMS waits for no session.
    allow_new_sessions: bool | None = None


ALLOW_NEW_SESSIONS = "ChargingStation.AllowNewSessionsPendingFirmwareUpdate"
"""The 2.x variable (component ChargingStation) a station drains by."""


def speaks_2x(ocpp_version: str | None) -> bool:
    """Whether the station speaks OCPP 2.0.1 or 2.1."""
    return ocpp_version is not None and ocpp_version.startswith("2")


@dataclass(frozen=True)
class FirmwareUpdateResult:
    """Where the update ended: succeeded, failed (with a class), deferred or cancelled."""

    station_id: str
    outcome: str
    failure: str | None = None
    reason: str | None = None
    version: str | None = None
    request_id: int | None = None


@dataclass(frozen=True)
class UpdateRecord:
    """The update's row: created once per workflow (its id is the OCPP requestId)."""

    request: FirmwareUpdateRequest
    workflow_id: str


@dataclass(frozen=True)
class UpdateEnd:
    """The update's final status on its row."""

    request_id: int
    result: FirmwareUpdateResult


def firmware_update_workflow_id(station_id: str) -> str:
    """Business key of a station's update requested on its own (one at a time; the id
    is reused by the next one)."""
    return f"firmware:{station_id}"


@dataclass(frozen=True)
class TargetFilter:
    """Which stations a campaign is for; every filter given must hold."""

    station_ids: list[str] | None = None
    site_ids: list[str] | None = None
    vendor: str | None = None
    model: str | None = None
    current_version: str | None = None


@dataclass(frozen=True)
class Target:
    """A station a campaign updates, with what pacing needs."""

    station_id: str
    site_id: str | None
    time_zone: str
    ocpp_version: str | None
    firmware_version: str | None
    # The image it gets, in a campaign of several (None: the campaign's one image).
    image_id: str | None = None


@dataclass(frozen=True)
class Targets:
    """The stations to update, the ones left out (with why) and each site's size."""

    targets: list[Target]
    skipped: dict[str, str] = field(default_factory=dict)
    site_sizes: dict[str, int] = field(default_factory=dict)
    # Stations left out beyond those listed in ``skipped`` (the list is bounded, so a
    # campaign over a mostly updated fleet carries no list of thousands).
    more_skipped: int = 0

    def bounded(self, listed: int) -> Targets:
        """The same targets with at most ``listed`` of the left-out stations named."""
        if len(self.skipped) <= listed:
            return self
        names = sorted(self.skipped)
        return Targets(
            self.targets,
            {name: self.skipped[name] for name in names[:listed]},
            self.site_sizes,
            self.more_skipped + len(names) - listed,
        )


@dataclass(frozen=True)
class TargetQuery:
    """Targets of ``image_id`` (and of ``other_image_ids``, for the other vendors and
    models of a multi-vendor campaign) among the stations ``filter`` selects."""

    image_id: str
    filter: TargetFilter
    other_image_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Window:
    """A maintenance window in a site's own time zone: ``start`` to ``end`` ("HH:MM",
    an end not after the start crosses midnight) on ``days`` (0 = Monday; empty:
    every day)."""

    start: str
    end: str
    days: list[int] = field(default_factory=list)


DEFAULT_ABORT = {
    "download_failed": 0.2,
    "install_failed": 0.1,
    "timed_out": 0.2,
    "did_not_come_back": 0.1,
    "rejected": 0.5,
}
"""Failure shares (of the stations finished) past which a campaign aborts, by class;
an invalid signature aborts at once."""


@dataclass(frozen=True)
class RolloutSettings:
    """How a campaign paces itself and when it gives up."""

    canary_count: int | None = None
    canary_share: float | None = None
    soak_s: int = 3600
    growth_factor: float = 2.0
    # Share of a wave that must have succeeded before the next one starts.
    promote_share: float = 0.9
    abort_shares: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_ABORT))
    abort_min_stations: int = 5
    max_site_share: float = 0.5
    max_in_flight: int = 500
    windows: list[Window] = field(default_factory=list)
    site_windows: dict[str, list[Window]] = field(default_factory=dict)
    timeouts: StepTimeouts = field(default_factory=StepTimeouts)
    # A station that was offline (or whose window closed) is tried again after this.
    retry_deferred_s: int = 600
    max_deferrals: int = 6
    # AllowNewSessionsPendingFirmwareUpdate for the 2.x stations (see
    # FirmwareUpdateRequest); None leaves each station's own setting.
    allow_new_sessions: bool | None = None


@dataclass(frozen=True)
class RolloutRequest:
    """Start campaign ``rollout_id``: ``image`` to the stations ``filter`` selects (and
    each of ``other_images`` to the stations it fits: a multi-vendor campaign)."""

    rollout_id: str
    image: FirmwareImageRef
    filter: TargetFilter
    settings: RolloutSettings = field(default_factory=RolloutSettings)
    other_images: list[FirmwareImageRef] = field(default_factory=list)


@dataclass
class StationProgress:
    """One station's part of a campaign."""

    wave: int
    site_id: str | None
    state: str = "pending"
    attempts: int = 0
    deferrals: int = 0
    failure: str | None = None
    reason: str | None = None
    version: str | None = None
    not_before: datetime | None = None


@dataclass(frozen=True)
class WaveProgress:
    """One wave: its size, whether it has started, and how its stations stand."""

    index: int
    size: int
    released: bool
    succeeded: int
    failed: int
    updating: int


@dataclass(frozen=True)
class RolloutProgress:
    """A campaign's standing: state, counts per station state and failure class, waves
    and (on request) each station."""

    rollout_id: str
    state: str
    reason: str | None
    counts: dict[str, int]
    failures: dict[str, int]
    waves: list[WaveProgress]
    skipped: dict[str, str]
    stations: dict[str, StationProgress] | None = None
    more_skipped: int = 0  # left out beyond those ``skipped`` names


@dataclass(frozen=True)
class RetryRequest:
    """Try failed stations again (None: every failed one)."""

    station_ids: list[str] | None = None


def rollout_workflow_id(rollout_id: str) -> str:
    """Business key of a campaign."""
    return f"rollout:{rollout_id}"


def rollout_update_workflow_id(rollout_id: str, station_id: str, attempt: int) -> str:
    """Business key of one station's update within a campaign (one per attempt)."""
    return f"rollout:{rollout_id}:{station_id}:{attempt}"
