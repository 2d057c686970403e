"""The pricing engine: a tariff and a session's usage in, OCPI-style periods and cost lines out.

Pure code: no database, no Temporal, no OCPP. Two front doors feed it the same
:class:`Usage` stretches: :mod:`activities.billing.timeline` (a session's meter
samples and status periods) and :mod:`activities.billing.ocpi_cdr` (an OCPI 2.2.1
CDR's own ``charging_periods``).

How a session is priced, as OCPI 2.2.1's tariff and CDR modules say:

1. The usage is cut wherever a restriction can change its answer: at the tariff's
   times of day and at local midnight (in the site's IANA time zone, so a DST night
   is an hour longer or shorter), when the session's duration passes a
   ``min_duration``/``max_duration``, when the energy so far passes a
   ``min_kwh``/``max_kwh``, and where the parking grace period runs out.
2. For each stretch and dimension, the first element whose restrictions all match
   prices it. Reservation time is priced only by reservation elements (an expired
   reservation prefers ``RESERVATION_EXPIRES``); FLAT is charged once, from the first
   stretch where a FLAT component applies.
3. ``step_size`` is applied once per session to the total billed volume: for ENERGY
   with the step of the last stretch that billed energy, for TIME and PARKING_TIME
   with the step of the last time-based stretch and to that dimension's total only
   (charging time followed by parking is not rounded). The extra volume is billed
   at the last stretch's price.
4. ``min_price`` / ``max_price`` bound the total excl. and incl. VAT separately; the
   difference is its own line.

**Rounding** (the one rule): every amount is carried exactly in :class:`Decimal`;
the session total, excl. and incl. VAT separately, is rounded once, half away from
zero, to the currency's ISO 4217 minor unit; the lines are then rounded so they add
up to that total exactly (each down to the minor unit, the remaining units to the
lines with the largest remainders, ties to the earlier line). A line's VAT is its
amount incl. VAT minus its amount excl. VAT.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from activities.billing.currencies import quantum, round_money
from activities.billing.tariffs import (
    Dimension,
    Price,
    PriceComponent,
    Reservation,
    Restrictions,
    Tariff,
)

ZERO = Decimal(0)
_THOUSAND = Decimal(1000)
_HOUR_S = Decimal(3600)
_HUNDRED = Decimal(100)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    """``moment`` as whole milliseconds since the epoch (exact, no float)."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return (moment - EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    """The UTC datetime of ``ms`` milliseconds since the epoch."""
    return EPOCH + timedelta(milliseconds=ms)


class Category(StrEnum):
    """Where a cost line counts in an OCPI CDR's totals."""

    ENERGY = "energy"
    TIME = "time"
    PARKING = "parking"
    FIXED = "fixed"
    RESERVATION = "reservation"
    ADJUSTMENT = "adjustment"  # min_price / max_price: in the total only


@dataclass(frozen=True, slots=True)
class Usage:
    """One stretch of a session over which the volumes are spread evenly.

    Times are milliseconds since the epoch; volumes are in Wh and seconds. A
    reservation stretch has only ``reservation_s``. Power (kW) and current (A, summed
    over phases) are the stretch's lowest and highest, when known.
    """

    start: int
    end: int
    energy_wh: Decimal = ZERO
    charging_s: Decimal = ZERO
    parking_s: Decimal = ZERO
    reservation_s: Decimal = ZERO
    min_power_kw: Decimal | None = None
    max_power_kw: Decimal | None = None
    min_current_a: Decimal | None = None
    max_current_a: Decimal | None = None
    free_parking: bool = False  # inside the grace period

    @property
    def is_reservation(self) -> bool:
        """True for the time a reservation held the EVSE before the session."""
        return self.reservation_s > 0 and not (self.charging_s or self.parking_s or self.energy_wh)


def _but(
    usage: Usage,
    *,
    start: int | None = None,
    end: int | None = None,
    energy_wh: Decimal | None = None,
    charging_s: Decimal | None = None,
    parking_s: Decimal | None = None,
    reservation_s: Decimal | None = None,
    free_parking: bool | None = None,
) -> Usage:
    """``usage`` with some fields changed (``dataclasses.replace`` is slow on a hot path)."""
    return Usage(
        usage.start if start is None else start,
        usage.end if end is None else end,
        usage.energy_wh if energy_wh is None else energy_wh,
        usage.charging_s if charging_s is None else charging_s,
        usage.parking_s if parking_s is None else parking_s,
        usage.reservation_s if reservation_s is None else reservation_s,
        usage.min_power_kw,
        usage.max_power_kw,
        usage.min_current_a,
        usage.max_current_a,
        usage.free_parking if free_parking is None else free_parking,
    )


class Cutter:
    """How a stretch is cut in two: volumes shared in proportion to time.

    :mod:`activities.billing.timeline` overrides :meth:`energy_between` and
    :meth:`instant_of_energy` with the session's measured energy curve.
    """

    def energy_between(self, usage: Usage, start: int, end: int) -> Decimal:
        """The energy of ``usage`` between two instants inside it."""
        return _share(usage.energy_wh, end - start, usage.end - usage.start)

    def instant_of_energy(self, usage: Usage, energy_wh: Decimal) -> int:
        """The first instant inside ``usage`` by which ``energy_wh`` of it was delivered."""
        span = usage.end - usage.start
        offset = (energy_wh * span / usage.energy_wh).to_integral_value(ROUND_CEILING)
        return min(usage.end, usage.start + int(offset))

    def cut(self, usage: Usage, at: int) -> tuple[Usage, Usage]:
        """``usage`` split at ``at`` (strictly inside it)."""
        span = usage.end - usage.start
        head_ms = at - usage.start
        energy = self.energy_between(usage, usage.start, at) if usage.energy_wh else ZERO
        head = _but(
            usage,
            end=at,
            energy_wh=energy,
            charging_s=_share(usage.charging_s, head_ms, span),
            parking_s=_share(usage.parking_s, head_ms, span),
            reservation_s=_share(usage.reservation_s, head_ms, span),
        )
        tail = _but(
            usage,
            start=at,
            energy_wh=usage.energy_wh - head.energy_wh,
            charging_s=usage.charging_s - head.charging_s,
            parking_s=usage.parking_s - head.parking_s,
            reservation_s=usage.reservation_s - head.reservation_s,
        )
        return head, tail


def _share(volume: Decimal, part: int, whole: int) -> Decimal:
    if not volume or whole <= 0:
        return ZERO
    if part == whole:
        return volume
    return volume * part / whole


@dataclass(frozen=True, slots=True)
class CostLine:
    """One priced quantity: a price component's volume times its unit price.

    ``quantity`` is in ``unit`` (kWh, h or session) after step rounding; amounts are
    rounded by the session's rule, ``exact_*`` are before rounding.
    """

    dimension: str  # ENERGY, TIME, PARKING_TIME, FLAT, MIN_PRICE, MAX_PRICE
    category: Category
    element: int | None  # index of the tariff element that priced it
    quantity: Decimal
    unit: str
    unit_price: Decimal
    vat_rate: Decimal | None
    excl_vat: Decimal
    vat: Decimal
    incl_vat: Decimal
    exact_excl_vat: Decimal
    exact_incl_vat: Decimal


@dataclass(frozen=True, slots=True)
class ChargingPeriod:
    """An OCPI-style charging period: a stretch where the same price components apply."""

    start: datetime
    end: datetime
    dimensions: dict[str, Decimal]  # ENERGY kWh, TIME / PARKING_TIME / RESERVATION_TIME h, FLAT 1
    reservation: bool = False


@dataclass(frozen=True, slots=True)
class PricedSession:
    """What a session costs, line by line, and the OCPI CDR totals that follow."""

    tariff_id: str
    currency: str
    periods: tuple[ChargingPeriod, ...]
    lines: tuple[CostLine, ...]
    total: Price
    energy_wh: Decimal
    time_s: Decimal  # from the session's start to its end (charging and not)
    charging_s: Decimal
    parking_s: Decimal
    reservation_s: Decimal
    notes: tuple[str, ...] = ()

    def subtotal(self, category: Category) -> Price:
        """The lines of one category added up (rounded amounts)."""
        excl = sum((line.excl_vat for line in self.lines if line.category == category), ZERO)
        incl = sum((line.incl_vat for line in self.lines if line.category == category), ZERO)
        return Price(excl, incl)

    def cdr_totals(self) -> dict[str, object]:
        """The totals in an OCPI 2.2.1 CDR's own shape (numbers as Decimal)."""

        def price(value: Price) -> dict[str, Decimal]:
            assert value.incl_vat is not None
            return {"excl_vat": value.excl_vat, "incl_vat": value.incl_vat}

        out: dict[str, object] = {
            "currency": self.currency,
            "total_cost": price(self.total),
            "total_energy_cost": price(self.subtotal(Category.ENERGY)),
            "total_time_cost": price(self.subtotal(Category.TIME)),
            "total_parking_cost": price(self.subtotal(Category.PARKING)),
            "total_fixed_cost": price(self.subtotal(Category.FIXED)),
            "total_energy": _volume(self.energy_wh / _THOUSAND),
            "total_time": _volume(self.time_s / _HOUR_S),
            "total_parking_time": _volume(self.parking_s / _HOUR_S),
        }
        if self.reservation_s or any(line.category == Category.RESERVATION for line in self.lines):
            out["total_reservation_cost"] = price(self.subtotal(Category.RESERVATION))
        return out


_MICRO = Decimal("0.000001")


def _volume(value: Decimal) -> Decimal:
    """A volume for display: six decimals, trailing zeros dropped (never ``1E+1``)."""
    rounded = value.quantize(_MICRO)
    return Decimal(format(rounded.normalize(), "f")) if rounded else ZERO


# -- the tariff, compiled once -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    element: int
    component: PriceComponent
    restrictions: Restrictions
    # Worked out once per tariff, not per stretch: whether anything restricts it, and
    # its time window as minutes of the day (start, end; end 1440 for midnight).
    unrestricted: bool = False
    window: tuple[int, int] | None = None

    @classmethod
    def of(cls, element: int, component: PriceComponent, r: Restrictions) -> _Entry:
        window = None
        if r.start_time is not None or r.end_time is not None:
            start = int(r.start_time[:2]) * 60 + int(r.start_time[3:5]) if r.start_time else 0
            end = int(r.end_time[:2]) * 60 + int(r.end_time[3:5]) if r.end_time else 0
            window = (start, end or 1440)
        return cls(element, component, r, r.is_empty(), window)


@dataclass(slots=True)  # not frozen: built per stretch, and a frozen init costs 3x
class _State:
    """What restrictions are evaluated against, at the start of a stretch."""

    minute: int
    weekday: int
    day: date
    energy_wh: Decimal
    elapsed_s: Decimal
    usage: Usage


class CompiledTariff:
    """A tariff prepared for pricing many sessions: components by dimension, boundaries."""

    def __init__(self, tariff: Tariff) -> None:
        self.tariff = tariff
        self.quantum = quantum(tariff.currency)
        regular: dict[Dimension, list[_Entry]] = {d: [] for d in Dimension}
        booked: dict[Dimension, list[_Entry]] = {d: [] for d in Dimension}
        expiring: dict[Dimension, list[_Entry]] = {d: [] for d in Dimension}
        minutes: set[int] = set()
        durations: set[int] = set()
        kwh: set[Decimal] = set()
        self.by_day = False
        self.by_power = False
        for index, element in enumerate(tariff.elements):
            r = element.restrictions
            for component in element.price_components:
                entry = _Entry.of(index, component, r)
                if r.reservation is None:
                    regular[component.type].append(entry)
                elif r.reservation == Reservation.RESERVATION:
                    booked[component.type].append(entry)
                else:
                    expiring[component.type].append(entry)
            for text in (r.start_time, r.end_time):
                if text is not None:
                    minutes.add(int(text[:2]) * 60 + int(text[3:5]))
            if r.day_of_week or r.start_date is not None or r.end_date is not None:
                self.by_day = True
            for seconds in (r.min_duration, r.max_duration):
                if seconds is not None:
                    durations.add(seconds)
            for limit in (r.min_kwh, r.max_kwh):
                if limit is not None:
                    kwh.add(limit * _THOUSAND)
            if any(
                value is not None
                for value in (r.min_power, r.max_power, r.min_current, r.max_current)
            ):
                self.by_power = True
        if self.by_day:
            minutes.add(0)
        self.regular = regular
        self.booked = booked
        # An expired reservation is priced by RESERVATION_EXPIRES elements first,
        # then by RESERVATION ones for what those do not price.
        self.expiring = {d: expiring[d] + booked[d] for d in Dimension}
        self.minutes = tuple(sorted(minutes))
        self.durations_ms = tuple(sorted(seconds * 1000 for seconds in durations))
        self.kwh_thresholds_wh = tuple(sorted(kwh))

    @cached_property
    def has_time_restrictions(self) -> bool:
        """True when stretches must be evaluated in local time."""
        return bool(self.minutes)


def compile_tariff(tariff: Tariff) -> CompiledTariff:
    """``tariff`` prepared for :func:`price_usage` (reuse it for many sessions)."""
    return CompiledTariff(tariff)


def _matches(entry: _Entry, state: _State) -> bool:
    r = entry.restrictions
    if entry.window is not None:
        start, end = entry.window
        if start < end:
            if not start <= state.minute < end:
                return False
        elif start > end and end <= state.minute < start:
            return False
    if r.day_of_week and state.weekday not in r.day_of_week:
        return False
    if r.start_date is not None and state.day < r.start_date:
        return False
    if r.end_date is not None and state.day >= r.end_date:
        return False
    if r.min_kwh is not None and state.energy_wh < r.min_kwh * _THOUSAND:
        return False
    if r.max_kwh is not None and state.energy_wh >= r.max_kwh * _THOUSAND:
        return False
    if r.min_duration is not None and state.elapsed_s < r.min_duration:
        return False
    if r.max_duration is not None and state.elapsed_s >= r.max_duration:
        return False
    usage = state.usage
    # Power and current: a bound can only match when the stretch's value is known.
    if r.min_power is not None and (usage.min_power_kw is None or usage.min_power_kw < r.min_power):
        return False
    if r.max_power is not None and (
        usage.max_power_kw is None or usage.max_power_kw >= r.max_power
    ):
        return False
    if r.min_current is not None and (
        usage.min_current_a is None or usage.min_current_a < r.min_current
    ):
        return False
    return not (
        r.max_current is not None
        and (usage.max_current_a is None or usage.max_current_a >= r.max_current)
    )


def _first(entries: list[_Entry], state: _State) -> _Entry | None:
    for entry in entries:
        if entry.unrestricted or _matches(entry, state):
            return entry
    return None


# -- cutting the usage where restrictions can change --------------------------------


def _local_boundaries(compiled: CompiledTariff, start: int, end: int, zone: ZoneInfo) -> list[int]:
    """Instants inside (start, end) where a time-of-day or date restriction can flip."""
    if not compiled.minutes:
        return []
    first = datetime.fromtimestamp(start / 1000, zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end / 1000, zone).date() + timedelta(days=1)
    out: list[int] = []
    day = first
    while day <= last:
        out.extend(ms for ms in _day_boundaries(zone, day, compiled.minutes) if start < ms < end)
        day += timedelta(days=1)
    return sorted(set(out))


@lru_cache(maxsize=4096)
def _day_boundaries(zone: ZoneInfo, day: date, minutes: tuple[int, ...]) -> tuple[int, ...]:
    """The instants of ``minutes`` past local midnight on ``day`` (both, when a DST
    change makes a wall time occur twice). Sessions of one month share their days."""
    out: set[int] = set()
    for minute in minutes:
        wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
        out.add(to_ms(wall))
        out.add(to_ms(wall.replace(fold=1)))
    # A DST change moves the wall clock itself: local time jumps across a window's
    # edge there, so the change is a boundary too.
    midnight = to_ms(datetime.combine(day, time(0), tzinfo=zone))
    following = to_ms(datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone))
    if _offset(zone, midnight) != _offset(zone, following):
        low, high = midnight, following
        while high - low > 1:  # the first millisecond of the new offset
            middle = (low + high) // 2
            if _offset(zone, middle) == _offset(zone, midnight):
                low = middle
            else:
                high = middle
        out.add(high)
    return tuple(sorted(out))


def _offset(zone: ZoneInfo, ms: int) -> timedelta | None:
    return from_ms(ms).astimezone(zone).utcoffset()


def _cut_at(usages: list[Usage], instants: Sequence[int], cutter: Cutter) -> list[Usage]:
    if not instants:
        return usages
    out: list[Usage] = []
    for usage in usages:
        first = bisect_right(instants, usage.start)
        while first < len(instants) and instants[first] < usage.end:
            head, usage = cutter.cut(usage, instants[first])
            out.append(head)
            first += 1
        out.append(usage)
    return out


def _cut_at_energy(
    usages: list[Usage], thresholds: Sequence[Decimal], cutter: Cutter, so_far: Decimal
) -> list[Usage]:
    """Cut where the session's energy so far reaches each threshold (exactly)."""
    if not thresholds:
        return usages
    out: list[Usage] = []
    for usage in usages:
        if usage.is_reservation:
            out.append(usage)
            continue
        while usage.energy_wh > 0:
            inside = [t for t in thresholds if so_far < t < so_far + usage.energy_wh]
            if not inside:
                break
            need = inside[0] - so_far
            at = cutter.instant_of_energy(usage, need)
            if not usage.start < at < usage.end:
                break  # the threshold falls within one millisecond: not worth a stretch
            head, tail = cutter.cut(usage, at)
            head = _but(head, energy_wh=need)
            tail = _but(tail, energy_wh=usage.energy_wh - need)
            out.append(head)
            so_far += need
            usage = tail
        out.append(usage)
        so_far += usage.energy_wh
    return out


def _apply_grace(usages: list[Usage], grace_s: int, cutter: Cutter) -> list[Usage]:
    """Mark the session's first ``grace_s`` seconds of parking as free."""
    if grace_s <= 0:
        return usages
    left = Decimal(grace_s)
    out: list[Usage] = []
    for usage in usages:
        if left <= 0 or not usage.parking_s:
            out.append(usage)
            continue
        if usage.parking_s <= left:
            out.append(_but(usage, free_parking=True))
            left -= usage.parking_s
            continue
        span = usage.end - usage.start
        at = usage.start + int((left * span / usage.parking_s).to_integral_value(ROUND_CEILING))
        if usage.start < at < usage.end:
            head, tail = cutter.cut(usage, at)
            out.append(_but(head, parking_s=left, free_parking=True))
            out.append(_but(tail, parking_s=usage.parking_s - left))
        else:
            out.append(usage)
        left = ZERO
    return out


# -- pricing --------------------------------------------------------------------------


@dataclass(slots=True)
class _Line:
    dimension: Dimension
    category: Category
    entry: _Entry
    quantity: Decimal = ZERO  # Wh, s or 1


@dataclass(slots=True)
class _Period:
    start: int
    end: int
    key: tuple[object, ...]
    reservation: bool
    volumes: dict[str, Decimal] = field(default_factory=dict)


_UNITS = {
    Dimension.ENERGY: ("kWh", _THOUSAND),
    Dimension.TIME: ("h", _HOUR_S),
    Dimension.PARKING_TIME: ("h", _HOUR_S),
    Dimension.FLAT: ("session", Decimal(1)),
}


def _state(
    compiled: CompiledTariff, zone: ZoneInfo, usage: Usage, so_far: Decimal, session_start: int
) -> _State:
    """What the restrictions see at the start of ``usage``."""
    if compiled.has_time_restrictions:
        local = datetime.fromtimestamp(usage.start / 1000, zone)
        minute, weekday, day = local.hour * 60 + local.minute, local.weekday(), local.date()
    else:
        minute, weekday, day = 0, 0, date.min
    elapsed = Decimal(usage.start - session_start) / _THOUSAND
    return _State(minute, weekday, day, so_far, elapsed, usage)


class _Ledger:
    """The lines, periods and last-priced lines (for step_size) of one session."""

    def __init__(self) -> None:
        self.lines: dict[tuple[int, Dimension, bool], _Line] = {}
        self.periods: list[_Period] = []
        self.last_energy: _Line | None = None
        self.last_time: _Line | None = None  # TIME or PARKING_TIME
        self.last_booked: _Line | None = None
        self._flat_done = {False: False, True: False}

    def _line(self, entry: _Entry, dimension: Dimension, category: Category, booked: bool) -> _Line:
        key = (entry.element, dimension, booked)
        found = self.lines.get(key)
        if found is None:
            found = self.lines[key] = _Line(dimension, category, entry)
        return found

    def flat(
        self,
        table: dict[Dimension, list[_Entry]],
        state: _State,
        category: Category,
        booked: bool,
        chosen: list[tuple[str, int]],
        volumes: dict[str, Decimal],
    ) -> None:
        """Charge the FLAT fee once (per session, and once for its reservation)."""
        if self._flat_done[booked]:
            return
        entry = _first(table[Dimension.FLAT], state)
        if entry is not None:
            self._line(entry, Dimension.FLAT, category, booked).quantity = Decimal(1)
            self._flat_done[booked] = True
            volumes["FLAT"] = Decimal(1)
            chosen.append(("FLAT", entry.element))

    def bill(
        self,
        entries: list[_Entry],
        state: _State,
        dimension: Dimension,
        category: Category,
        booked: bool,
        volume: Decimal,
        name: str,
        chosen: list[tuple[str, int]],
        volumes: dict[str, Decimal],
    ) -> None:
        """Price ``volume`` of a dimension with the first component that applies."""
        entry = _first(entries, state)
        if entry is not None:
            billed = self._line(entry, dimension, category, booked)
            billed.quantity += volume
            chosen.append((name, entry.element))
            if booked:
                self.last_booked = billed
            elif dimension == Dimension.ENERGY:
                self.last_energy = billed
            else:
                self.last_time = billed
        volumes[name] = volume

    def period(
        self,
        usage: Usage,
        booked: bool,
        chosen: list[tuple[str, int]],
        volumes: dict[str, Decimal],
    ) -> None:
        """Add ``usage`` to the current period, or start one where another price
        component takes over (OCPI CDR module)."""
        key = (
            booked,
            usage.free_parking,
            tuple(c for c in chosen if c[0] != "FLAT"),
            bool(usage.charging_s),
            bool(usage.parking_s),
        )
        periods = self.periods
        if periods and periods[-1].key == key and periods[-1].end == usage.start:
            period = periods[-1]
            period.end = usage.end
        else:
            period = _Period(usage.start, usage.end, key, booked)
            periods.append(period)
        for name, volume in volumes.items():
            period.volumes[name] = period.volumes.get(name, ZERO) + volume


def price_usage(
    tariff: Tariff | CompiledTariff,
    usages: Sequence[Usage],
    *,
    time_zone: str = "UTC",
    session_start: int | None = None,
    reservation_expired: bool = False,
    cutter: Cutter | None = None,
    energy_before_wh: Decimal = ZERO,
    notes: Sequence[str] = (),
) -> PricedSession:
    """Price a session given as consecutive :class:`Usage` stretches.

    ``session_start`` is when the session itself began (after any reservation), the
    origin of ``min_duration``/``max_duration``; it defaults to the first stretch
    that is not a reservation. ``energy_before_wh`` continues a session priced in
    parts (a running cost): the energy its earlier parts delivered.
    """
    compiled = tariff if isinstance(tariff, CompiledTariff) else CompiledTariff(tariff)
    tariff = compiled.tariff
    cutter = cutter or Cutter()
    zone = _zone(time_zone)
    if not usages:
        raise ValueError("a session needs at least one stretch of usage")
    # A session over within the millisecond it began still owes its FLAT fee.
    stretches = [u for u in usages if u.end > u.start or u.reservation_s or u.energy_wh] or [
        usages[0]
    ]
    regular = [u for u in stretches if not u.is_reservation]
    if session_start is None:
        session_start = regular[0].start if regular else stretches[0].start
    begin, finish = stretches[0].start, stretches[-1].end

    instants = set(_local_boundaries(compiled, begin, finish, zone))
    instants.update(
        session_start + ms for ms in compiled.durations_ms if begin < session_start + ms < finish
    )
    stretches = _cut_at(stretches, sorted(instants), cutter)
    stretches = _cut_at_energy(stretches, compiled.kwh_thresholds_wh, cutter, energy_before_wh)
    stretches = _apply_grace(stretches, tariff.parking_grace_s, cutter)

    ledger = _Ledger()
    so_far = energy_before_wh
    regular_dimensions = (
        (Dimension.ENERGY, "energy_wh", Category.ENERGY, "ENERGY"),
        (Dimension.TIME, "charging_s", Category.TIME, "TIME"),
        (Dimension.PARKING_TIME, "parking_s", Category.PARKING, "PARKING_TIME"),
    )
    for usage in stretches:
        state = _state(compiled, zone, usage, so_far, session_start)
        chosen: list[tuple[str, int]] = []
        volumes: dict[str, Decimal] = {}
        booked = usage.is_reservation
        if booked:
            table = compiled.expiring if reservation_expired else compiled.booked
            ledger.flat(table, state, Category.RESERVATION, True, chosen, volumes)
            ledger.bill(
                table[Dimension.TIME],
                state,
                Dimension.TIME,
                Category.RESERVATION,
                True,
                usage.reservation_s,
                "RESERVATION_TIME",
                chosen,
                volumes,
            )
        else:
            table = compiled.regular
            ledger.flat(table, state, Category.FIXED, False, chosen, volumes)
            for dimension, attribute, category, name in regular_dimensions:
                volume: Decimal = getattr(usage, attribute)
                if not volume:
                    continue
                free = dimension == Dimension.PARKING_TIME and usage.free_parking
                entries = [] if free else table[dimension]
                ledger.bill(
                    entries, state, dimension, category, False, volume, name, chosen, volumes
                )
            so_far += usage.energy_wh
        ledger.period(usage, booked, chosen, volumes)

    lines, periods = ledger.lines, ledger.periods
    last_energy, last_time, last_booked = ledger.last_energy, ledger.last_time, ledger.last_booked
    _round_steps(lines, last_energy, last_time, last_booked)
    priced = _amounts(compiled, list(lines.values()))
    energy = charging = parking = reserved = ZERO
    first_regular: int | None = None
    for u in stretches:  # one pass: the sums, and the first stretch not booked
        energy += u.energy_wh
        charging += u.charging_s
        parking += u.parking_s
        reserved += u.reservation_s
        if first_regular is None and not u.is_reservation:
            first_regular = u.start
    if first_regular is None:
        first_regular = finish
    return PricedSession(
        tariff_id=tariff.id,
        currency=tariff.currency,
        periods=tuple(_period(p) for p in periods),
        lines=priced[0],
        total=priced[1],
        energy_wh=energy,
        time_s=Decimal(max(0, finish - first_regular)) / _THOUSAND,
        charging_s=charging,
        parking_s=parking,
        reservation_s=reserved,
        notes=tuple(notes),
    )


def _period(period: _Period) -> ChargingPeriod:
    dimensions: dict[str, Decimal] = {}
    for name, volume in period.volumes.items():
        if name == "ENERGY":
            dimensions[name] = volume / _THOUSAND
        elif name == "FLAT":
            dimensions[name] = volume
        else:
            dimensions[name] = volume / _HOUR_S
    return ChargingPeriod(
        from_ms(period.start), from_ms(period.end), dimensions, period.reservation
    )


def _round_steps(
    lines: dict[tuple[int, Dimension, bool], _Line],
    last_energy: _Line | None,
    last_time: _Line | None,
    last_booked: _Line | None,
) -> None:
    """Apply step_size once per session to each dimension's total (OCPI CDR module)."""
    for last, booked in ((last_energy, False), (last_time, False), (last_booked, True)):
        if last is None:
            continue
        step = Decimal(last.entry.component.step_size)
        total = sum(
            (
                item.quantity
                for (_, dimension, is_booked), item in lines.items()
                if dimension == last.dimension and is_booked == booked
            ),
            ZERO,
        )
        if total <= 0:
            continue
        rounded = (total / step).to_integral_value(ROUND_CEILING) * step
        last.quantity += rounded - total


def _amounts(compiled: CompiledTariff, raw: list[_Line]) -> tuple[tuple[CostLine, ...], Price]:
    tariff = compiled.tariff
    exact: list[tuple[_Line | None, str, Category, Decimal, Decimal]] = []
    for item in raw:
        if not item.quantity and item.dimension != Dimension.FLAT:
            continue
        unit, divisor = _UNITS[item.dimension]
        excl = item.quantity * item.entry.component.price / divisor
        vat = item.entry.component.vat
        incl = excl + excl * vat / _HUNDRED if vat is not None else excl
        exact.append((item, item.dimension.value, item.category, excl, incl))
    total_excl = sum((row[3] for row in exact), ZERO)
    total_incl = sum((row[4] for row in exact), ZERO)
    adjust = _bounds(tariff.min_price, tariff.max_price, total_excl, total_incl)
    if adjust is not None:
        name, excl, incl = adjust
        exact.append((None, name, Category.ADJUSTMENT, excl, incl))
        total_excl += excl
        total_incl += incl
    excl_total = round_money(total_excl, tariff.currency)
    incl_total = round_money(total_incl, tariff.currency)
    excl_amounts = allocate([row[3] for row in exact], excl_total, compiled.quantum)
    # VAT is spread by its own amounts, so a line without VAT never gets any.
    vat_amounts = allocate(
        [row[4] - row[3] for row in exact], incl_total - excl_total, compiled.quantum
    )
    incl_amounts = [e + v for e, v in zip(excl_amounts, vat_amounts, strict=True)]
    out = []
    for (found, name, category, excl, incl), excl_vat, incl_vat in zip(
        exact, excl_amounts, incl_amounts, strict=True
    ):
        if found is None:
            quantity, unit, unit_price, rate, element = Decimal(1), "session", excl, None, None
        else:
            unit, divisor = _UNITS[found.dimension]
            quantity = _volume(found.quantity / divisor)
            unit_price = found.entry.component.price
            rate = found.entry.component.vat
            element = found.entry.element
        out.append(
            CostLine(
                dimension=name,
                category=category,
                element=element,
                quantity=quantity,
                unit=unit,
                unit_price=unit_price,
                vat_rate=rate,
                excl_vat=excl_vat,
                vat=incl_vat - excl_vat,
                incl_vat=incl_vat,
                exact_excl_vat=excl,
                exact_incl_vat=incl,
            )
        )
    return tuple(out), Price(excl_total, incl_total)


def _bounds(
    low: Price | None, high: Price | None, excl: Decimal, incl: Decimal
) -> tuple[str, Decimal, Decimal] | None:
    """The min_price / max_price correction of a total. Both bounds apply, excl. and
    incl. VAT each (OCPI: either may bind first); a bound without its incl. VAT
    amount scales the excl. one by the session's VAT."""
    ratio = incl / excl if excl else Decimal(1)

    def bounded(value: Decimal, least: Decimal | None, most: Decimal | None) -> Decimal:
        if least is not None and value < least:
            value = least
        if most is not None and value > most:
            value = most
        return value

    def incl_of(price: Price | None) -> Decimal | None:
        if price is None:
            return None
        return price.incl_vat if price.incl_vat is not None else price.excl_vat * ratio

    new_excl = bounded(
        excl,
        low.excl_vat if low is not None else None,
        high.excl_vat if high is not None else None,
    )
    new_incl = bounded(incl, incl_of(low), incl_of(high))
    if new_excl == excl and new_incl == incl:
        return None
    raised = new_excl > excl or (new_excl == excl and new_incl > incl)
    return ("MIN_PRICE" if raised else "MAX_PRICE"), new_excl - excl, new_incl - incl


def allocate(amounts: Sequence[Decimal], total: Decimal, unit: Decimal) -> list[Decimal]:
    """``amounts`` rounded to ``unit`` so that they add up to ``total`` exactly.

    Each is rounded down, then the units still missing go to the amounts with the
    largest remainders, ties to the earlier one (the largest-remainder method).
    """
    floors = [amount.quantize(unit, rounding=ROUND_FLOOR) for amount in amounts]
    missing = int(((total - sum(floors, ZERO)) / unit).to_integral_value())
    if missing and not amounts:
        raise ValueError("nothing to allocate a non-zero total to")
    order = sorted(range(len(amounts)), key=lambda i: (-(amounts[i] - floors[i]), i))
    if missing >= 0:
        for index in order[:missing]:
            floors[index] += unit
    else:
        for index in order[::-1][:-missing]:
            floors[index] -= unit
    return floors


_ZONES: dict[str, ZoneInfo] = {}


def _zone(name: str) -> ZoneInfo:
    zone = _ZONES.get(name)
    if zone is None:
        zone = _ZONES[name] = ZoneInfo(name)
    return zone
