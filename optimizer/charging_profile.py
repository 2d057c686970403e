"""A version-neutral charging profile: what the planner decides, before any OCPP encoding.

The gateway's command codecs (:mod:`gateway.commands16`, :mod:`gateway.commands2`)
turn it into the SetChargingProfile request of the version a station speaks;
nothing outside the gateway sees OCPP's field names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Purpose = Literal["TxProfile", "StationMax"]
"""A transaction's limit, or the station-wide maximum (ChargePointMaxProfile in 1.6,
ChargingStationMaxProfile in 2.x)."""

RateUnit = Literal["W", "A"]


PLANNER_STATION_STACK_LEVEL = 0
"""The site planner's StationMax profile (the station's share of the site)."""
PLANNER_TX_STACK_LEVEL = 1
"""The site planner's TxProfile of each transaction."""
DEMAND_RESPONSE_STACK_LEVEL = 9
"""A demand-response event's cap: above everything else, so a utility's limit holds.
Operators' own profiles take the levels in between (2..8)."""


@dataclass(frozen=True)
class Period:
    """From ``start_s`` seconds after the schedule's start: at most ``limit``."""

    start_s: int
    limit: float
    phases: int | None = None


@dataclass(frozen=True)
class ChargingProfile:
    """A version-neutral absolute charging profile."""

    profile_id: int
    purpose: Purpose
    stack_level: int
    # 1.6 connector / 2.x EVSE; 0 is the whole station.
    connector: int
    start: datetime
    duration_s: int
    rate_unit: RateUnit
    periods: Sequence[Period]
    transaction_id: str | None = None

    def limit_at(self, moment: datetime) -> float | None:
        """The profile's limit at ``moment`` (None outside its schedule)."""
        offset = (moment - self.start).total_seconds()
        if offset < 0 or offset >= self.duration_s:
            return None
        current = None
        for period in self.periods:
            if period.start_s <= offset:
                current = period
        return current.limit if current is not None else None
