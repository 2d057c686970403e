"""Connector status periods and availability, computed from what stations reported
(pure: reports in, periods and shares out).

A status holds from its report until the connector's next one. EVSE 0 /
connector 0 stands for the whole station: while it reports Faulted or
Unavailable, every connector is counted so. While the station is offline (its
liveness), every connector is ``Offline``: nobody can charge at a station the
CSMS cannot reach, whatever it last said. Before its first report a connector
is ``Unknown``.

Availability is the share of the window in which the connector could serve a
driver (any status but Faulted, Unavailable, Offline, Unknown); uptime is the
share in which it was not Faulted or Offline (an operator's own Unavailable does
not count against it), the way uptime requirements (e.g. NEVI's 97 %) are
usually read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

UNUSABLE = frozenset({"Faulted", "Unavailable", "Offline", "Unknown"})
DOWN = frozenset({"Faulted", "Offline"})
STATION_WIDE = frozenset({"Faulted", "Unavailable"})


@dataclass(frozen=True)
class Report:
    """A status as reported (or a liveness change, for the station)."""

    at: datetime
    state: str


@dataclass(frozen=True)
class Period:
    """A stretch of one status."""

    status: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        """How long it lasted."""
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class ConnectorAvailability:
    """One connector over the window."""

    evse_id: int
    connector_id: int
    periods: list[Period]
    seconds_by_status: dict[str, float] = field(default_factory=dict)
    availability: float = 0.0
    uptime: float = 0.0


def _timeline(
    reports: Sequence[Report], start: datetime, end: datetime, before: str
) -> list[tuple[datetime, str]]:
    """Change points within [start, end): the state at ``start`` then each report."""
    points = [(start, before)]
    for report in sorted(reports, key=lambda r: r.at):
        if report.at >= end:
            break
        if report.at <= start:
            points[0] = (start, report.state)
        else:
            points.append((report.at, report.state))
    return points


def _state_at(points: list[tuple[datetime, str]], at: datetime) -> str:
    state = points[0][1]
    for when, value in points:
        if when > at:
            break
        state = value
    return state


def periods(
    reports: Sequence[Report],
    start: datetime,
    end: datetime,
    *,
    station: Sequence[Report] = (),
    liveness: Sequence[Report] = (),
) -> list[Period]:
    """The connector's status periods within [start, end), merged where equal.

    ``reports`` are the connector's own (all of them, or those in the window and the
    last before it), ``station`` those of connector 0, ``liveness`` the station's
    liveness changes (``offline`` and the rest).
    """
    if end <= start:
        return []
    own = _timeline(reports, start, end, "Unknown")
    whole = _timeline(station, start, end, "Available")
    live = _timeline(liveness, start, end, "online")
    cuts = sorted({t for t, _ in own} | {t for t, _ in whole} | {t for t, _ in live})
    result: list[Period] = []
    for k, at in enumerate(cuts):
        until = cuts[k + 1] if k + 1 < len(cuts) else end
        if until <= at:
            continue
        state = _state_at(own, at)
        station_state = _state_at(whole, at)
        if _state_at(live, at) == "offline":
            state = "Offline"
        elif station_state in STATION_WIDE:
            state = station_state
        if result and result[-1].status == state and result[-1].end == at:
            result[-1] = Period(state, result[-1].start, until)
        else:
            result.append(Period(state, at, until))
    return result


def availability(
    evse_id: int,
    connector_id: int,
    reports: Sequence[Report],
    start: datetime,
    end: datetime,
    *,
    station: Sequence[Report] = (),
    liveness: Sequence[Report] = (),
) -> ConnectorAvailability:
    """The connector's periods, seconds per status, availability and uptime (0..1)."""
    found = periods(reports, start, end, station=station, liveness=liveness)
    total = (end - start).total_seconds()
    by_status: dict[str, float] = {}
    for period in found:
        by_status[period.status] = by_status.get(period.status, 0.0) + period.seconds
    usable = sum(s for status, s in by_status.items() if status not in UNUSABLE)
    down = sum(s for status, s in by_status.items() if status in DOWN)
    known = total - by_status.get("Unknown", 0.0)
    return ConnectorAvailability(
        evse_id=evse_id,
        connector_id=connector_id,
        periods=found,
        seconds_by_status=by_status,
        availability=usable / total if total > 0 else 0.0,
        uptime=(known - down) / known if known > 0 else 0.0,
    )
