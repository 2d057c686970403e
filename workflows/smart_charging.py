"""Smart-charging types shared by the site workflow, its activities and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from workflows.commands import CommandRequest


@dataclass(frozen=True)
class SiteCircuit:
    """A feeder or circuit below the site connection."""

    id: str
    limit_kw: float
    parent: str | None = None  # None: directly under the site connection
    # The current each of its lines may carry: in amperes (a transformer's or
    # panel's breaker), or as kW per phase (amperes times the phase voltage).
    phase_limit_kw: float | None = None
    phase_limit_a: float | None = None

    def __post_init__(self) -> None:
        if self.phase_limit_kw is not None and self.phase_limit_a is not None:
            raise ValueError(f"circuit {self.id}: name phase_limit_a or phase_limit_kw, not both")


@dataclass(frozen=True)
class SiteCharger:
    """A charging point (a 1.6 connector or a 2.x EVSE) of the site."""

    station_id: str
    evse_id: int = 1
    max_kw: float = 11.0
    circuit: str | None = None  # None: directly on the site connection
    # Between one line and neutral, on all three lines, or between two lines
    # (L12, L23, L31: AB, BC, CA, as North American 208 V chargers are wired).
    phases: Literal["L1", "L2", "L3", "L123", "L12", "L23", "L31"] = "L123"
    rate_unit: Literal["W", "A"] = "W"
    # The pilot signal (IEC 61851 / SAE J1772): a car cannot charge below
    # ``min_current_a``; a charger that takes only whole amperes (or coarser) names
    # its step. ``voltage_v``: what the charger's current is drawn at, phase to
    # neutral (230 V in Europe, 120/277 V) or line to line for a charger between
    # two lines (208/240 V).
    min_current_a: float = 6.0
    current_step_a: float | None = None
    voltage_v: float = 230.0
    # How much a shortfall of the car here counts against others' (2: served first
    # when not every car can be; a reserved bay, an emergency vehicle's charger).
    priority: float = 1.0

    def __post_init__(self) -> None:
        if not 0.01 <= self.priority <= 100:
            raise ValueError("priority must be between 0.01 and 100")
        if not 0 <= self.min_current_a < 80:
            raise ValueError("min_current_a must be between 0 and 80 A")
        if self.current_step_a is not None and not 0 < self.current_step_a <= 16:
            raise ValueError("current_step_a must be above 0 and at most 16 A")
        if not 90 <= self.voltage_v <= 480:
            raise ValueError("voltage_v must be between 90 and 480 V")

    @property
    def phase_count(self) -> int:
        """The phases the car charges on (1 for a single-phase charger, also one
        between two lines: its pilot current flows through both lines once)."""
        return 3 if self.phases == "L123" else 1

    @property
    def line_to_line(self) -> bool:
        """Whether the charger sits between two lines (its voltage is line to line)."""
        return self.phases in ("L12", "L23", "L31")

    @property
    def kw_per_amp(self) -> float:
        """Power per ampere of pilot current at this charger's voltage and wiring."""
        return self.voltage_v * self.phase_count / 1000


@dataclass(frozen=True)
class PriceBand:
    """A daily time-of-use band (may wrap midnight)."""

    start_hour: float
    end_hour: float
    price_per_kwh: float


@dataclass(frozen=True)
class SiteChargingConfig:
    """How a site is smart-charged: its capacity tree, chargers, tariff and defaults."""

    connection_kw: float
    chargers: list[SiteCharger]
    prices: list[PriceBand]
    circuits: list[SiteCircuit] = field(default_factory=list)
    connection_phase_limit_kw: float | None = None
    connection_phase_limit_a: float | None = None
    # The network's phase-to-neutral voltage (230 V in Europe, 120 V for 208Y/120,
    # 277 V for 480Y/277): what turns phase limits in amperes into kW per phase and,
    # once named, what every charger's voltage is checked against. None: 230 V,
    # chargers' voltages unchecked (configurations from before it existed).
    phase_voltage_v: float | None = None
    demand_charge_per_kw: float = 0.0
    # For vehicles that tell nothing about their needs (1.6, or no NotifyEVChargingNeeds).
    default_energy_kwh: float = 30.0
    default_stay_hours: float = 10.0
    default_max_kw: float = 11.0
    slot_minutes: int = 15
    horizon_hours: int = 24
    # Drivers leave before their estimate (a third of them 1-3 h early is common):
    # energy planned in the last ``departure_margin_hours`` of a stay carries a
    # premium per kWh (None: 2.2 x the day's price spread), so the plan charges
    # before them where there is room under the peak. 0: departures are sure.
    departure_margin_hours: float = 3.0
    departure_risk_premium_per_kwh: float | None = None
    # The IANA time zone of the price bands (and the site's clock): "Europe/Berlin".
    time_zone: str = "UTC"
    # The prices are this tariff's energy prices by time of day (its newest version,
    # read at every plan), so planning and billing never disagree; ``prices`` then
    # shows the bands last read.
    tariff_id: str | None = None

    def __post_init__(self) -> None:
        if self.connection_kw <= 0:
            raise ValueError("connection_kw must be positive")
        if not self.chargers:
            raise ValueError("name at least one charger")
        if 60 % self.slot_minutes:
            raise ValueError("slot_minutes must divide an hour")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time_zone {self.time_zone!r} is not an IANA time zone") from None
        if not 0 <= self.departure_margin_hours <= 24:
            raise ValueError("departure_margin_hours must be between 0 and 24")
        if self.departure_risk_premium_per_kwh is not None and not (
            0 <= self.departure_risk_premium_per_kwh < 1e6
        ):
            raise ValueError("departure_risk_premium_per_kwh must be 0 or more")
        if self.connection_phase_limit_kw is not None and self.connection_phase_limit_a is not None:
            raise ValueError("name connection_phase_limit_a or connection_phase_limit_kw, not both")
        if self.phase_voltage_v is not None:
            if not 90 <= self.phase_voltage_v <= 480:
                raise ValueError("phase_voltage_v must be between 90 and 480 V")
            for charger in self.chargers:
                expected = self.phase_voltage_v * (3**0.5 if charger.line_to_line else 1)
                # A charger's voltage off its network's by more than the 10% a supply
                # may vary is a wiring mistake in the configuration (230 V left as the
                # default on a 208 V site), and would make its amperes wrong.
                if abs(charger.voltage_v - expected) > 0.1 * expected:
                    raise ValueError(
                        f"charger {charger.station_id}#{charger.evse_id}: {charger.voltage_v:g} V "
                        f"does not fit its {charger.phases} wiring on a "
                        f"{self.phase_voltage_v:g} V phase network ({expected:.0f} V)"
                    )

    @property
    def network_voltage_v(self) -> float:
        """The network's phase-to-neutral voltage (230 V unless named)."""
        return self.phase_voltage_v if self.phase_voltage_v is not None else 230.0

    def phase_limit(self, kw: float | None, amperes: float | None) -> float | None:
        """A phase limit as kW per phase, from whichever of the two was named."""
        if amperes is not None:
            return amperes * self.network_voltage_v / 1000
        return kw


@dataclass(frozen=True)
class SiteSessionEvent:
    """A session starting or ending at a site (sent by the session workflow)."""

    site_id: str
    station_id: str
    evse_id: int
    transaction_id: str
    started_at: datetime
    meter_start_wh: int | None = None

    @property
    def key(self) -> str:
        """The charging point the session occupies."""
        return f"{self.station_id}#{self.evse_id}"


@dataclass(frozen=True)
class PresentVehicle:
    """A vehicle at the site, as the workflow knows it."""

    key: str
    station_id: str
    evse_id: int
    transaction_id: str
    arrived_at: datetime
    meter_start_wh: int | None = None

    @classmethod
    def of(cls, event: SiteSessionEvent) -> PresentVehicle:
        """The vehicle of a session that started."""
        return cls(
            event.key,
            event.station_id,
            event.evse_id,
            event.transaction_id,
            event.started_at,
            event.meter_start_wh,
        )


@dataclass(frozen=True)
class PlanRequest:
    """Plan the site now for the vehicles present."""

    site_id: str
    present: list[PresentVehicle]
    now: datetime


@dataclass(frozen=True)
class SitePlanRequest:
    """Plan the site now from the database (who is present, what each needs)."""

    site_id: str
    now: datetime
    # Smart charging switched off: clear every profile of the last plan instead.
    stopping: bool = False


@dataclass(frozen=True)
class SitePlanOutcome:
    """A stored plan, as the workflow needs it: small at any site size."""

    site_id: str
    plan: int  # its number; its commands are in site_plan_commands
    stations: list[str]  # the stations that have commands in it
    vehicles: list[str]  # the charging points planned ("station#evse")
    cleared: int  # profiles of cars that left, cleared first
    summary: str


@dataclass(frozen=True)
class SiteDelivery:
    """A gateway node's share of a plan: its stations, whose commands it reads."""

    site_id: str
    plan: int
    station_ids: list[str]


@dataclass(frozen=True)
class DeliveryReport:
    """What a node sent of a plan: commands sent, and why a station's failed."""

    sent: int
    failed: dict[str, str] = field(default_factory=dict)


@dataclass
class SitePlan:
    """A plan: per-vehicle power, what it costs, and the commands that install it."""

    site_id: str
    planned_at: datetime
    slot_minutes: int
    # Per vehicle key: planned kW per slot from planned_at.
    power_kw: dict[str, list[float]]
    site_limit_kw: list[float]
    price_per_kwh: list[float]
    energy_cost: float
    peak_kw: float
    shortfall_kwh: dict[str, float]
    summary: str
    build_s: float
    solve_s: float
    # The SetChargingProfile commands that install it, in the order to send them.
    requests: list[CommandRequest] = field(default_factory=list)
    # The billing month's measured peak the plan was allowed to reach at no cost.
    month_peak_kw: float = 0.0
