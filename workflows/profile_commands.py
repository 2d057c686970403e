"""Operators' smart-charging commands: their own charging profiles, and reading what a
station holds (its profiles, its composite schedule).

Who owns which stack levels and profile ids, so that an operator's profile and
the platform's (the site planner's, a demand-response event's) never replace each
other, is decided here once (:data:`PLATFORM_STACK_LEVELS`,
:data:`PLATFORM_PROFILE_IDS`) and documented in the README.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from optimizer.charging_profile import (
    DEMAND_RESPONSE_STACK_LEVEL,
    PLANNER_STATION_STACK_LEVEL,
    PLANNER_TX_STACK_LEVEL,
)

ProfilePurpose = Literal["StationMax", "TxDefault", "Tx", "PriorityCharging", "LocalGeneration"]
"""Neutral purposes: 1.6 ChargePointMaxProfile / TxDefaultProfile / TxProfile, 2.x
ChargingStationMaxProfile / TxDefaultProfile / TxProfile; 2.1 adds the last two."""

OPERATOR_STACK_LEVELS = range(PLANNER_TX_STACK_LEVEL + 1, DEMAND_RESPONSE_STACK_LEVEL)
"""Stack levels 2..8 are the operator's: above the site planner's (0 for its station
limit, 1 for its transaction profiles), below demand response (9), so within one
purpose an operator's profile overrides the planner's and a utility's curtailment
overrides both."""

PLATFORM_STACK_LEVELS = frozenset(
    {PLANNER_STATION_STACK_LEVEL, PLANNER_TX_STACK_LEVEL, DEMAND_RESPONSE_STACK_LEVEL}
)
"""The platform's own stack levels (site planner 0 and 1, demand response 9)."""

PLATFORM_PROFILE_IDS = (range(0, 1000), range(900_000, 1_000_000))
"""Profile ids the platform assigns (the planner's 1 and 100+EVSE, demand response's
913000...): an operator's profile with one of them would replace the platform's."""


def platform_profile_id(profile_id: int) -> bool:
    """Whether ``profile_id`` is one the platform assigns to its own profiles."""
    return any(profile_id in ids for ids in PLATFORM_PROFILE_IDS)


@dataclass(frozen=True)
class SchedulePeriod:
    """From ``start_s`` seconds into the schedule, at most ``limit`` (W or A)."""

    start_s: int
    limit: float
    phases: int | None = None


@dataclass(frozen=True)
class OperatorChargingProfile:
    """An operator's own charging profile on a station (any purpose, kind and stack
    level of the operator's range), encoded for the station's OCPP version.

    ``evse_id`` 0 is the whole station (the only place for StationMax); a Tx
    profile names the station's transaction. Absolute and Recurring schedules
    start at ``start`` (Recurring repeats it daily or weekly); Relative ones start
    when a transaction does.
    """

    profile_id: int
    stack_level: int
    purpose: ProfilePurpose
    periods: list[SchedulePeriod]
    evse_id: int = 0
    kind: Literal["Absolute", "Recurring", "Relative"] = "Absolute"
    recurrency: Literal["Daily", "Weekly"] | None = None
    start: datetime | None = None
    duration_s: int | None = None
    rate_unit: Literal["W", "A"] = "W"
    min_rate: float | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None

    def __post_init__(self) -> None:
        if platform_profile_id(self.profile_id) or self.profile_id < 0:
            raise ValueError(
                f"profile_id {self.profile_id} is the platform's (0..999 and"
                " 900000..999999 name the site planner's and demand response's profiles)"
            )
        if self.stack_level not in OPERATOR_STACK_LEVELS:
            raise ValueError(
                f"stack_level {self.stack_level}: operators use 2..8 (0 and 1 are the site"
                " planner's, 9 demand response's)"
            )
        if not self.periods:
            raise ValueError("a schedule needs at least one period")
        starts = [p.start_s for p in self.periods]
        if starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError("periods start at 0 s and their start_s increase strictly")
        if any(p.limit < 0 for p in self.periods):
            raise ValueError("a period's limit must not be negative")
        if self.kind == "Recurring" and (self.recurrency is None or self.start is None):
            raise ValueError("a Recurring profile needs a recurrency and a start")
        if self.kind != "Recurring" and self.recurrency is not None:
            raise ValueError("only a Recurring profile has a recurrency")
        if self.kind == "Relative" and self.start is not None:
            raise ValueError("a Relative profile starts with the transaction: no start")
        if self.kind == "Absolute" and self.start is None:
            raise ValueError("an Absolute profile needs its start")
        if self.purpose == "StationMax" and self.evse_id != 0:
            raise ValueError("a StationMax profile is for the whole station: evse_id 0")
        if self.purpose == "Tx" and self.transaction_id is None:
            raise ValueError("a Tx profile names its transaction_id")
        if self.purpose != "Tx" and self.transaction_id is not None:
            raise ValueError("only a Tx profile names a transaction")
        if self.evse_id < 0 or (self.duration_s is not None and self.duration_s <= 0):
            raise ValueError("evse_id must not be negative, duration_s must be positive")


@dataclass(frozen=True)
class GetChargingProfiles:
    """2.x: the station reports the profiles it holds (ReportChargingProfiles, kept
    among the station's events under ``request_id``), filtered as given."""

    request_id: int
    evse_id: int | None = None
    purpose: ProfilePurpose | None = None
    stack_level: int | None = None
    profile_ids: list[int] = field(default_factory=list)
    sources: list[Literal["EMS", "Other", "SO", "CSO"]] = field(default_factory=list)


@dataclass(frozen=True)
class GetCompositeSchedule:
    """The schedule an EVSE (0: the whole station) will follow for the next
    ``duration_s`` seconds, all profiles combined; returned decoded."""

    duration_s: int
    evse_id: int = 0
    rate_unit: Literal["W", "A"] | None = None

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ValueError("duration_s must be positive")


@dataclass(frozen=True)
class StartProfile:
    """The TxProfile a remote start carries (2.0.1 K05 / K_37, 1.6 TC_059): the limit
    the transaction starts under. Relative from the transaction's start unless it is
    Absolute with a ``start``. An operator's takes the operator's stack levels; at a
    smart-charged site without one, the site planner's share of the station goes
    with the start (its own stack level and id, replaced by its next plan)."""

    periods: list[SchedulePeriod]
    profile_id: int = 2000
    stack_level: int = OPERATOR_STACK_LEVELS.start
    rate_unit: Literal["W", "A"] = "W"
    kind: Literal["Absolute", "Relative"] = "Relative"
    start: datetime | None = None
    duration_s: int | None = None
    min_rate: float | None = None

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("a schedule needs at least one period")
        starts = [p.start_s for p in self.periods]
        if starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError("periods start at 0 s and their start_s increase strictly")
        if any(p.limit < 0 for p in self.periods):
            raise ValueError("a period's limit must not be negative")
        if (self.kind == "Absolute") != (self.start is not None):
            raise ValueError("an Absolute profile has a start, a Relative one none")
        if self.stack_level not in OPERATOR_STACK_LEVELS and self.stack_level != (
            PLANNER_TX_STACK_LEVEL
        ):
            raise ValueError(f"stack_level {self.stack_level}: operators use 2..8")
