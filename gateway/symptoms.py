"""Telemetry patterns only the gateway sees, turned into health facts.

The health workflow never gets heartbeats, statuses without a fault or meter
samples (rule 2). Some faults only show in them, so the node that holds the
socket watches them in memory, at no cost per message beyond a few assignments,
and reports a *symptom* when one persists and again when it ends:

- ``StuckPreparing``: a connector in Preparing (1.6) or EVConnected (2.x, before
  any charging) for longer than ``stuck_preparing_s``;
- ``MeterValuesStopped``: a connector Charging whose samples stopped for
  ``meter_silent_s`` (after it had sent some);
- ``EnergyNotRising``: a connector Charging whose energy register has not risen
  for ``energy_flat_s`` while samples keep coming;
- ``StartFailed``: ``start_failures`` authorizations in a row not followed by a
  transaction within ``start_timeout_s``.

State is per node and per connection: a reconnect starts afresh (and ends the
symptoms the old connection raised).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from gateway.timestamps import utcnow
from workflows.domain import ENERGY_REGISTER, MeterReading
from workflows.health import FactKind, StationFact

PREPARING = frozenset({"Preparing", "EVConnected"})
CHARGING = "Charging"


@dataclass(frozen=True)
class SymptomLimits:
    """How long a pattern must last to be a symptom."""

    stuck_preparing_s: float = 900.0
    meter_silent_s: float = 900.0
    energy_flat_s: float = 1200.0
    start_timeout_s: float = 180.0
    start_failures: int = 3


@dataclass
class _Connector:
    status: str = "Unknown"
    since: float = field(default_factory=time.monotonic)
    last_sample: float | None = None
    energy_wh: float | None = None
    energy_rose: float | None = None
    raised: set[str] = field(default_factory=set)


@dataclass
class _Station:
    connectors: dict[tuple[int, int], _Connector] = field(default_factory=dict)
    pending_starts: list[float] = field(default_factory=list)
    failed_starts: int = 0
    start_failed: bool = False

    def connector(self, evse_id: int, connector_id: int) -> _Connector:
        return self.connectors.setdefault((evse_id, connector_id), _Connector())


class SymptomWatch:
    """The patterns of every station a node holds."""

    def __init__(self, limits: SymptomLimits | None = None) -> None:
        self.limits = limits or SymptomLimits()
        self._stations: dict[str, _Station] = {}

    def _of(self, station_id: str) -> _Station:
        return self._stations.setdefault(station_id, _Station())

    def status(self, station_id: str, evse_id: int, connector_id: int, status: str) -> None:
        """A connector's status (1.6) or charging state (2.x) as reported."""
        watch = self._of(station_id).connector(evse_id, connector_id)
        if watch.status != status:
            watch.status, watch.since = status, time.monotonic()
            if status == CHARGING:
                watch.energy_rose = watch.since
                watch.last_sample = None

    def samples(
        self, station_id: str, evse_id: int, connector_id: int, readings: Iterable[MeterReading]
    ) -> None:
        """Meter samples arrived for a connector."""
        watch = self._of(station_id).connector(evse_id, connector_id)
        now = time.monotonic()
        watch.last_sample = now
        for reading in readings:
            if reading.measurand != ENERGY_REGISTER or reading.phase is not None:
                continue
            if watch.energy_wh is None or reading.value > watch.energy_wh:
                if watch.energy_wh is not None:
                    watch.energy_rose = now
                watch.energy_wh = reading.value

    def authorized(self, station_id: str, accepted: bool) -> None:
        """An Authorize was answered; an accepted one should lead to a transaction."""
        if accepted:
            self._of(station_id).pending_starts.append(time.monotonic())

    def started(self, station_id: str) -> None:
        """A transaction started: the station starts sessions."""
        station = self._of(station_id)
        station.pending_starts.clear()
        station.failed_starts = 0

    def forget(self, station_id: str) -> list[StationFact]:
        """The connection closed: its symptoms end with it (facts saying so)."""
        station = self._stations.pop(station_id, None)
        if station is None:
            return []
        facts = [
            _fact(station_id, name, evse, conn, cleared=True, cause="connection closed")
            for (evse, conn), watch in station.connectors.items()
            for name in sorted(watch.raised)
        ]
        if station.start_failed:
            facts.append(_fact(station_id, "StartFailed", 0, 0, cleared=True))
        return facts

    def check(self) -> list[StationFact]:
        """Symptoms that began or ended since the last check."""
        now, limits = time.monotonic(), self.limits
        facts: list[StationFact] = []
        for station_id, station in self._stations.items():
            for (evse, conn), watch in station.connectors.items():
                held = now - watch.since
                present = {
                    "StuckPreparing": watch.status in PREPARING
                    and held >= limits.stuck_preparing_s,
                    "MeterValuesStopped": watch.status == CHARGING
                    and watch.last_sample is not None
                    and now - watch.last_sample >= limits.meter_silent_s,
                    "EnergyNotRising": watch.status == CHARGING
                    and watch.last_sample is not None
                    and now - watch.last_sample < limits.meter_silent_s
                    and watch.energy_rose is not None
                    and now - watch.energy_rose >= limits.energy_flat_s,
                }
                for name, now_present in present.items():
                    if now_present and name not in watch.raised:
                        watch.raised.add(name)
                        facts.append(_fact(station_id, name, evse, conn, cause=_why(name, held)))
                    elif not now_present and name in watch.raised:
                        watch.raised.discard(name)
                        facts.append(_fact(station_id, name, evse, conn, cleared=True))
            expired = [t for t in station.pending_starts if now - t >= limits.start_timeout_s]
            if expired:
                station.pending_starts = [t for t in station.pending_starts if t not in expired]
                station.failed_starts += len(expired)
            if station.failed_starts >= limits.start_failures and not station.start_failed:
                station.start_failed = True
                facts.append(
                    _fact(
                        station_id,
                        "StartFailed",
                        0,
                        0,
                        cause=f"{station.failed_starts} authorizations in a row without a start",
                    )
                )
            elif station.failed_starts == 0 and station.start_failed:
                station.start_failed = False
                facts.append(_fact(station_id, "StartFailed", 0, 0, cleared=True))
        return facts


def _why(name: str, held_s: float) -> str:
    if name == "StuckPreparing":
        return f"in Preparing for {held_s:.0f} s"
    return name


def _fact(
    station_id: str,
    name: str,
    evse_id: int,
    connector_id: int,
    *,
    cleared: bool = False,
    cause: str | None = None,
) -> StationFact:
    return StationFact(
        station_id=station_id,
        kind=FactKind.SYMPTOM,
        at=utcnow(),
        state=name,
        evse_id=evse_id,
        connector_id=connector_id,
        cleared=cleared,
        cause=cause,
    )
