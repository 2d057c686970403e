"""A session's timeline (meter samples and status periods) priced by the engine.

The session is charging from its start until a status change says otherwise:

- ``CHARGING`` is TIME;
- ``PARKING`` (plugged in, the vehicle not asking for power: SuspendedEV, Finishing
  or Occupied after charging) is PARKING_TIME, after the tariff's grace period;
- ``SUSPENDED`` (the vehicle asks, the charger withholds: SuspendedEVSE) is neither,
  as OCPI 2.2.1 defines parking; it counts only in the session's total time.

Energy comes from the meter register. Between two readings it is spread over the
charging time between them (over all of it when there was none), so a sparse meter
does not bill energy to parking. A register that falls by more than a kWh was reset:
the reading after it is the energy since the reset (and a note says so); a smaller
dip is ignored until the register passes its highest reading again. Missing samples are
bridged by the readings either side; a session with no readings has no energy.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from activities.billing.pricing import (
    ZERO,
    CompiledTariff,
    Cutter,
    PricedSession,
    Usage,
    from_ms,
    price_usage,
    to_ms,
)
from activities.billing.tariffs import Tariff

_THOUSAND = Decimal(1000)
_KW_FACTOR = Decimal(3600)  # Wh per millisecond to kW: Wh * 3600 / ms
RESET_DROP_WH = Decimal(1000)
"""A register that falls by more than this was reset; a smaller dip is ignored."""


class Activity(StrEnum):
    """What the session is doing, for pricing."""

    CHARGING = "charging"
    SUSPENDED = "suspended"
    PARKING = "parking"


@dataclass(frozen=True, slots=True)
class MeterSample:
    """A reading of the energy register (Wh), with the current summed over phases if known."""

    at: datetime
    energy_wh: Decimal
    current_a: Decimal | None = None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """From ``at`` on, the session is doing ``activity``."""

    at: datetime
    activity: Activity


@dataclass(frozen=True, slots=True)
class SessionTimeline:
    """Everything the engine needs to know about one session.

    ``reservation_start`` is when a reservation that led to this session was made.
    With ``reservation_expired`` the timeline is a reservation that no session
    followed: ``start`` is when it was made and ``stop`` when it expired.
    """

    start: datetime
    stop: datetime
    meter_start_wh: Decimal | None = None
    meter_stop_wh: Decimal | None = None
    samples: Sequence[MeterSample] = ()
    statuses: Sequence[StatusChange] = ()
    time_zone: str = "UTC"
    reservation_start: datetime | None = None
    reservation_expired: bool = False


class EnergyCurve:
    """Energy delivered since the session's start, from the meter readings.

    ``energy[k]`` was delivered by ``times[k]``; between two readings the interval's
    energy is spread evenly over its charging time (over all of it when it had none).
    """

    def __init__(
        self, times: list[int], energy: list[Decimal], charging: list[tuple[int, int]]
    ) -> None:
        self.times = times
        self.energy = energy
        self.charging = charging

    def _charging_ms(self, a: int, b: int) -> int:
        return sum(
            min(b, end) - max(a, start) for start, end in self.charging if start < b and end > a
        )

    def at(self, ms: int) -> Decimal:
        """Energy (Wh) delivered by ``ms``."""
        times, energy = self.times, self.energy
        if ms <= times[0]:
            return energy[0]
        if ms >= times[-1]:
            return energy[-1]
        k = bisect_right(times, ms) - 1
        e0, e1 = energy[k], energy[k + 1]
        if e0 == e1:
            return e0
        t0, t1 = times[k], times[k + 1]
        total = self._charging_ms(t0, t1)
        if not total:
            return e0 + (e1 - e0) * (ms - t0) / (t1 - t0)
        part = self._charging_ms(t0, ms)
        return e1 if part == total else e0 + (e1 - e0) * part / total

    def instant_of(self, energy_wh: Decimal) -> int:
        """The first instant by which ``energy_wh`` had been delivered."""
        k = bisect_left(self.energy, energy_wh)
        if k == 0:
            return self.times[0]
        if k >= len(self.energy):
            return self.times[-1]
        e0, e1 = self.energy[k - 1], self.energy[k]
        t0, t1 = self.times[k - 1], self.times[k]
        total = self._charging_ms(t0, t1)
        if not total:
            offset = (energy_wh - e0) * (t1 - t0) / (e1 - e0)
            return t0 + int(offset.to_integral_value(ROUND_CEILING))
        need = int(((energy_wh - e0) * total / (e1 - e0)).to_integral_value(ROUND_CEILING))
        for start, end in self.charging:
            if end <= t0 or start >= t1:
                continue
            a, b = max(start, t0), min(end, t1)
            if need <= b - a:
                return a + need
            need -= b - a
        return t1


class CurveCutter(Cutter):
    """Cuts stretches where the meter says the energy was, not in proportion to time."""

    def __init__(self, curve: EnergyCurve) -> None:
        self.curve = curve

    def energy_between(self, usage: Usage, start: int, end: int) -> Decimal:
        """Energy between two instants, from the curve."""
        return self.curve.at(end) - self.curve.at(start)

    def instant_of_energy(self, usage: Usage, energy_wh: Decimal) -> int:
        """When ``energy_wh`` of the stretch had been delivered, from the curve."""
        return self.curve.instant_of(self.curve.at(usage.start) + energy_wh)


@dataclass(frozen=True, slots=True)
class SessionUsage:
    """A timeline turned into the engine's stretches, with the curve that cuts them."""

    usages: list[Usage]
    cutter: Cutter
    session_start: int
    notes: list[str]


def session_usages(compiled: CompiledTariff, timeline: SessionTimeline) -> SessionUsage:
    """The stretches of ``timeline``: one per activity (and per meter interval when the
    tariff has power or current restrictions), preceded by any reservation."""
    start, stop = to_ms(timeline.start), to_ms(timeline.stop)
    if stop < start:
        raise ValueError("a session cannot stop before it starts")
    segments = _segments(timeline, start, stop)
    notes: list[str] = []
    curve, currents = _curve(timeline, start, stop, segments, notes)
    usages: list[Usage] = []
    if timeline.reservation_start is not None:
        booked = to_ms(timeline.reservation_start)
        if booked < start:
            usages.append(Usage(booked, start, reservation_s=Decimal(start - booked) / _THOUSAND))
    cuts = curve.times if compiled.by_power else []
    for seg_start, seg_end, activity in segments:
        edges = [seg_start, *(t for t in cuts if seg_start < t < seg_end), seg_end]
        for a, b in itertools.pairwise(edges):
            usages.append(_usage(a, b, activity, curve, currents, compiled.by_power))
    if not segments:
        usages.append(Usage(start, stop))
    return SessionUsage(usages, CurveCutter(curve), start, notes)


def price_session(tariff: Tariff | CompiledTariff, timeline: SessionTimeline) -> PricedSession:
    """Price one session's timeline with ``tariff`` in the site's time zone."""
    compiled = tariff if isinstance(tariff, CompiledTariff) else CompiledTariff(tariff)
    if timeline.reservation_expired:
        start, stop = to_ms(timeline.start), to_ms(timeline.stop)
        if stop < start:
            raise ValueError("a reservation cannot expire before it is made")
        usage = Usage(start, stop, reservation_s=Decimal(stop - start) / _THOUSAND)
        return price_usage(
            compiled, [usage], time_zone=timeline.time_zone, reservation_expired=True
        )
    found = session_usages(compiled, timeline)
    return price_usage(
        compiled,
        found.usages,
        time_zone=timeline.time_zone,
        session_start=found.session_start,
        cutter=found.cutter,
        notes=found.notes,
    )


def _usage(
    a: int,
    b: int,
    activity: Activity,
    curve: EnergyCurve,
    currents: list[tuple[int, Decimal]],
    with_power: bool,
) -> Usage:
    seconds = Decimal(b - a) / _THOUSAND
    energy = curve.at(b) - curve.at(a)
    power = current = None
    if with_power:
        # Not charging, the vehicle draws nothing: 0 kW and 0 A match a max_power.
        power = current = ZERO
        if activity == Activity.CHARGING and b > a:
            power = energy * _KW_FACTOR / (b - a)
            # The current reported at the end of a meter interval stands for it; the
            # last interval takes the last current reported.
            k = bisect_left(currents, (b, ZERO))
            known = currents[k] if k < len(currents) else currents[-1] if currents else None
            current = known[1] if known is not None else None
    return Usage(
        a,
        b,
        energy_wh=energy,
        charging_s=seconds if activity == Activity.CHARGING else ZERO,
        parking_s=seconds if activity == Activity.PARKING else ZERO,
        min_power_kw=power,
        max_power_kw=power,
        min_current_a=current,
        max_current_a=current,
    )


def _segments(timeline: SessionTimeline, start: int, stop: int) -> list[tuple[int, int, Activity]]:
    """The session's activities as (start, end, activity), clipped to the session."""
    changes = sorted(((to_ms(c.at), c.activity) for c in timeline.statuses), key=lambda c: c[0])
    current = Activity.CHARGING
    moments: list[tuple[int, Activity]] = []
    for at, activity in changes:
        if at <= start:
            current = activity
        elif at < stop:
            moments.append((at, activity))
    out: list[tuple[int, int, Activity]] = []
    edge = start
    for at, activity in moments:
        if activity == current:
            continue
        if at > edge:
            out.append((edge, at, current))
        edge, current = at, activity
    if stop > edge:
        out.append((edge, stop, current))
    return out


def _curve(
    timeline: SessionTimeline,
    start: int,
    stop: int,
    segments: list[tuple[int, int, Activity]],
    notes: list[str],
) -> tuple[EnergyCurve, list[tuple[int, Decimal]]]:
    samples = list(timeline.samples)
    moments = [round(sample.at.timestamp() * 1000) for sample in samples]
    if moments != sorted(moments):
        order = sorted(range(len(samples)), key=moments.__getitem__)
        moments = [moments[i] for i in order]
        samples = [samples[i] for i in order]
    # Only the readings within the session count.
    first, last = bisect_left(moments, start), bisect_right(moments, stop)
    samples, moments = samples[first:last], moments[first:last]
    times = moments
    values = [sample.energy_wh for sample in samples]
    if timeline.meter_start_wh is not None:
        times, values = [start, *times], [timeline.meter_start_wh, *values]
    if timeline.meter_stop_wh is not None:
        times, values = [*times, stop], [*values, timeline.meter_stop_wh]
    currents = [
        (at, s.current_a) for at, s in zip(moments, samples, strict=True) if s.current_a is not None
    ]
    charging = [(a, b) for a, b, activity in segments if activity == Activity.CHARGING]
    if len(values) < 2:
        if not values or times[0] == stop:
            notes.append("no meter readings: no energy billed")
        return EnergyCurve([start, stop], [ZERO, ZERO], charging), currents
    if values == sorted(values):
        # The usual register: energy since the first reading is the register less it.
        base = values[0]
        energy = [value - base for value in values]
    else:
        energy = _with_resets(times, values, notes)
    if times[0] > start:
        # Nothing is known before the first reading.
        times, energy = [start, *times], [ZERO, *energy]
    if times[-1] < stop:
        times, energy = [*times, stop], [*energy, energy[-1]]
    return EnergyCurve(times, energy, charging), currents


def _with_resets(times: list[int], values: list[Decimal], notes: list[str]) -> list[Decimal]:
    """Energy since the first reading of a register that went down.

    A drop of more than :data:`RESET_DROP_WH` is a reset: the reading counts from zero.
    A smaller dip is a reading out of order or rounding, not energy: it is ignored
    until the register passes its highest reading again.
    """
    energy = [ZERO]
    cumulative = ZERO
    highest = values[0]
    for at, value in zip(times[1:], values[1:], strict=True):
        if value >= highest:
            cumulative += value - highest
            highest = value
        elif highest - value > RESET_DROP_WH:
            cumulative += value
            highest = value
            notes.append(
                f"meter register fell to {value} Wh at {from_ms(at).isoformat()}: "
                "counted as a reset"
            )
        energy.append(cumulative)
    return energy
