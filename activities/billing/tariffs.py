"""The tariff model: OCPI 2.2.1's Tariff, TariffElement, PriceComponent and TariffRestrictions.

OCPI's tariff is the platform's native model, so a tariff is exchanged with a roaming
partner unchanged: :func:`parse_tariff` reads OCPI JSON (checking everything the
pricing engine relies on) and :meth:`Tariff.to_ocpi` writes it back. The one
extension, a parking grace period, is not part of OCPI and is not written to it.

Numbers become :class:`~decimal.Decimal` from their decimal text, never via binary
floats, so ``0.1`` stays exactly ``0.1``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from activities.billing.currencies import MINOR_UNITS


class TariffError(ValueError):
    """A tariff that cannot be priced, with the path of the offending field."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


class Dimension(StrEnum):
    """What a price component prices (OCPI TariffDimensionType)."""

    ENERGY = "ENERGY"  # per kWh, step in Wh
    FLAT = "FLAT"  # once per session
    PARKING_TIME = "PARKING_TIME"  # per hour plugged in without the vehicle asking for power
    TIME = "TIME"  # per hour charging (or reserved, in a reservation element)


class TariffType(StrEnum):
    """Which sessions a tariff is meant for (OCPI TariffType)."""

    AD_HOC_PAYMENT = "AD_HOC_PAYMENT"
    PROFILE_CHEAP = "PROFILE_CHEAP"
    PROFILE_FAST = "PROFILE_FAST"
    PROFILE_GREEN = "PROFILE_GREEN"
    REGULAR = "REGULAR"


class Reservation(StrEnum):
    """An element that prices a reservation (OCPI ReservationRestrictionType)."""

    RESERVATION = "RESERVATION"
    RESERVATION_EXPIRES = "RESERVATION_EXPIRES"


WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
"""OCPI DayOfWeek values, indexed like :meth:`datetime.weekday`."""


@dataclass(frozen=True, slots=True)
class Price:
    """An amount with and without VAT (OCPI Price); ``incl_vat`` may be unknown."""

    excl_vat: Decimal
    incl_vat: Decimal | None = None


@dataclass(frozen=True, slots=True)
class PriceComponent:
    """How one dimension is priced: ``price`` per unit excl. VAT, VAT in percent."""

    type: Dimension
    price: Decimal
    step_size: int
    vat: Decimal | None = None  # None: no VAT applies (not the same as 0 %)


@dataclass(frozen=True, slots=True)
class Restrictions:
    """When an element applies (OCPI TariffRestrictions); all set fields must match.

    Times and dates are local to the site; ``end_time`` before ``start_time`` wraps
    past midnight and ``"00:00"`` as the end means the end of the day.
    """

    start_time: str | None = None
    end_time: str | None = None
    start_date: date | None = None
    end_date: date | None = None  # exclusive
    min_kwh: Decimal | None = None
    max_kwh: Decimal | None = None  # exclusive
    min_current: Decimal | None = None
    max_current: Decimal | None = None  # exclusive
    min_power: Decimal | None = None
    max_power: Decimal | None = None  # exclusive
    min_duration: int | None = None  # seconds
    max_duration: int | None = None  # seconds, exclusive
    day_of_week: tuple[int, ...] = ()  # datetime.weekday() numbers; empty: every day
    reservation: Reservation | None = None

    def is_empty(self) -> bool:
        """True when nothing restricts the element."""
        return self == _NO_RESTRICTIONS

    def minutes(self) -> frozenset[int] | None:
        """The minutes of the day (0-1439) the time window covers; None when unbounded."""
        if self.start_time is None and self.end_time is None:
            return None
        start = _minute_of_day(self.start_time or "00:00")
        end = _minute_of_day(self.end_time or "00:00") or 1440
        if start == end % 1440:
            return frozenset(range(1440))
        if start < end:
            return frozenset(range(start, end))
        return frozenset(range(start, 1440)) | frozenset(range(end))


_NO_RESTRICTIONS = Restrictions()


@dataclass(frozen=True, slots=True)
class TariffElement:
    """Price components that share their restrictions."""

    price_components: tuple[PriceComponent, ...]
    restrictions: Restrictions = _NO_RESTRICTIONS


@dataclass(frozen=True, slots=True)
class Tariff:
    """An OCPI 2.2.1 tariff plus the platform's parking grace period."""

    id: str
    currency: str
    elements: tuple[TariffElement, ...]
    country_code: str | None = None
    party_id: str | None = None
    type: TariffType | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    last_updated: datetime | None = None
    # Free parking minutes before PARKING_TIME is billed (not part of OCPI).
    parking_grace_s: int = 0
    # OCPI fields the engine does not read, kept so a tariff round-trips unchanged.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_ocpi(self) -> dict[str, Any]:
        """This tariff as an OCPI 2.2.1 Tariff object (numbers as Decimal)."""
        out: dict[str, Any] = {}
        if self.country_code is not None:
            out["country_code"] = self.country_code
        if self.party_id is not None:
            out["party_id"] = self.party_id
        out["id"] = self.id
        out["currency"] = self.currency
        if self.type is not None:
            out["type"] = self.type.value
        out.update(self.extra)
        for name in ("min_price", "max_price"):
            price: Price | None = getattr(self, name)
            if price is not None:
                out[name] = {"excl_vat": price.excl_vat}
                if price.incl_vat is not None:
                    out[name]["incl_vat"] = price.incl_vat
        out["elements"] = [_element_to_ocpi(element) for element in self.elements]
        for name in ("start_date_time", "end_date_time", "last_updated"):
            moment: datetime | None = getattr(self, name)
            if moment is not None:
                out[name] = moment.isoformat().replace("+00:00", "Z")
        return out


def _element_to_ocpi(element: TariffElement) -> dict[str, Any]:
    components = []
    for component in element.price_components:
        item: dict[str, Any] = {"type": component.type.value, "price": component.price}
        if component.vat is not None:
            item["vat"] = component.vat
        item["step_size"] = component.step_size
        components.append(item)
    out: dict[str, Any] = {"price_components": components}
    if not element.restrictions.is_empty():
        r = element.restrictions
        restrictions: dict[str, Any] = {}
        for name in ("start_time", "end_time"):
            if getattr(r, name) is not None:
                restrictions[name] = getattr(r, name)
        for name in ("start_date", "end_date"):
            if getattr(r, name) is not None:
                restrictions[name] = getattr(r, name).isoformat()
        for name in _NUMBER_RESTRICTIONS:
            if getattr(r, name) is not None:
                restrictions[name] = getattr(r, name)
        for name in ("min_duration", "max_duration"):
            if getattr(r, name) is not None:
                restrictions[name] = getattr(r, name)
        if r.day_of_week:
            restrictions["day_of_week"] = [WEEKDAYS[day] for day in r.day_of_week]
        if r.reservation is not None:
            restrictions["reservation"] = r.reservation.value
        out["restrictions"] = restrictions
    return out


MAX_NUMBER = 10**9
"""No price, VAT or limit is larger: beyond it the input is a mistake, not a tariff."""
MAX_STEP = 10**9

_NUMBER_RESTRICTIONS = (
    "min_kwh",
    "max_kwh",
    "min_current",
    "max_current",
    "min_power",
    "max_power",
)
_TIME_OF_DAY = re.compile(r"([0-1][0-9]|2[0-3]):[0-5][0-9]")
_DATE = re.compile(r"[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
_RESERVATION_DIMENSIONS = {Dimension.FLAT, Dimension.TIME}
_KNOWN_FIELDS = {
    "country_code",
    "party_id",
    "id",
    "currency",
    "type",
    "min_price",
    "max_price",
    "elements",
    "start_date_time",
    "end_date_time",
    "last_updated",
}


def _minute_of_day(text: str) -> int:
    return int(text[:2]) * 60 + int(text[3:5])


def parse_tariff(data: Mapping[str, Any], *, parking_grace_s: int = 0) -> Tariff:
    """Read an OCPI 2.2.1 Tariff object, refusing anything that cannot be priced exactly.

    Raises :class:`TariffError` naming the field: an unknown currency, a negative
    price, a VAT outside 0-100 %, a malformed restriction, a restriction range that is
    empty, two components of one dimension in one element, or a component that can
    never apply because an earlier element prices its dimension whenever it would
    (OCPI takes the first matching element, so such a tariff does not say what its
    author meant).
    """
    if not isinstance(data, Mapping):
        raise TariffError("", "a tariff must be a JSON object")
    tariff_id = _text(data, "id", required=True, max_length=36)
    currency = _text(data, "currency", required=True, max_length=16)
    assert tariff_id is not None and currency is not None
    if currency not in MINOR_UNITS:
        raise TariffError("currency", f"{currency!r} is not an ISO 4217 currency code")
    raw_elements = data.get("elements")
    if not isinstance(raw_elements, Sequence) or isinstance(raw_elements, str | bytes):
        raise TariffError("elements", "a list of tariff elements is required")
    if not raw_elements:
        raise TariffError("elements", "a tariff needs at least one element")
    elements = tuple(
        _parse_element(raw, f"elements[{index}]") for index, raw in enumerate(raw_elements)
    )
    _refuse_unreachable(elements)
    tariff_type = data.get("type")
    if tariff_type is not None and (
        not isinstance(tariff_type, str) or tariff_type not in TariffType.__members__
    ):
        raise TariffError("type", f"{tariff_type!r} is not an OCPI tariff type")
    min_price = _price(data.get("min_price"), "min_price")
    max_price = _price(data.get("max_price"), "max_price")
    if min_price is not None and max_price is not None and min_price.excl_vat > max_price.excl_vat:
        raise TariffError("min_price", "the minimum price is above the maximum price")
    start = _moment(data.get("start_date_time"), "start_date_time")
    end = _moment(data.get("end_date_time"), "end_date_time")
    if start is not None and end is not None and end <= start:
        raise TariffError("end_date_time", "the tariff ends before it starts")
    if parking_grace_s < 0:
        raise TariffError("parking_grace_s", "a grace period cannot be negative")
    return Tariff(
        id=tariff_id,
        currency=currency,
        elements=elements,
        country_code=_text(data, "country_code", max_length=2),
        party_id=_text(data, "party_id", max_length=3),
        type=TariffType(tariff_type) if tariff_type is not None else None,
        min_price=min_price,
        max_price=max_price,
        start_date_time=start,
        end_date_time=end,
        last_updated=_moment(data.get("last_updated"), "last_updated"),
        parking_grace_s=parking_grace_s,
        extra={key: value for key, value in data.items() if key not in _KNOWN_FIELDS},
    )


def _parse_element(raw: Any, path: str) -> TariffElement:
    if not isinstance(raw, Mapping):
        raise TariffError(path, "a tariff element must be an object")
    raw_components = raw.get("price_components")
    if not isinstance(raw_components, Sequence) or not raw_components:
        raise TariffError(f"{path}.price_components", "at least one price component is required")
    restrictions = _parse_restrictions(raw.get("restrictions"), f"{path}.restrictions")
    components = []
    seen: set[Dimension] = set()
    for index, item in enumerate(raw_components):
        where = f"{path}.price_components[{index}]"
        component = _parse_component(item, where)
        if component.type in seen:
            raise TariffError(
                where,
                f"a second {component.type} component in one element is ambiguous",
            )
        if restrictions.reservation is not None and component.type not in _RESERVATION_DIMENSIONS:
            raise TariffError(
                where, f"a reservation element prices only FLAT and TIME, not {component.type}"
            )
        seen.add(component.type)
        components.append(component)
    return TariffElement(tuple(components), restrictions)


def _parse_component(raw: Any, path: str) -> PriceComponent:
    if not isinstance(raw, Mapping):
        raise TariffError(path, "a price component must be an object")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in Dimension.__members__:
        raise TariffError(f"{path}.type", f"{kind!r} is not ENERGY, FLAT, PARKING_TIME or TIME")
    price = _number(raw.get("price"), f"{path}.price", required=True)
    assert price is not None
    if price < 0:
        raise TariffError(f"{path}.price", "a price cannot be negative")
    vat = _number(raw.get("vat"), f"{path}.vat")
    if vat is not None and not Decimal(0) <= vat <= Decimal(100):
        raise TariffError(f"{path}.vat", "VAT is a percentage between 0 and 100")
    step = raw.get("step_size", 1)
    if isinstance(step, float) and step.is_integer():
        step = int(step)
    if (
        isinstance(step, bool)
        or not isinstance(step, int | Decimal)
        or (isinstance(step, Decimal) and not step.is_finite())
        or step != int(step)
    ):
        raise TariffError(f"{path}.step_size", "the step size is a whole number")
    least = 0 if kind == Dimension.FLAT else 1
    if not least <= int(step) <= MAX_STEP:
        raise TariffError(f"{path}.step_size", f"the step size must be from {least} to {MAX_STEP}")
    return PriceComponent(type=Dimension(str(kind)), price=price, step_size=int(step), vat=vat)


def _parse_restrictions(raw: Any, path: str) -> Restrictions:
    if raw is None:
        return _NO_RESTRICTIONS
    if not isinstance(raw, Mapping):
        raise TariffError(path, "restrictions must be an object")
    values: dict[str, Any] = {}
    for name in ("start_time", "end_time"):
        text = raw.get(name)
        if text is not None:
            if not isinstance(text, str) or not _TIME_OF_DAY.fullmatch(text):
                raise TariffError(f"{path}.{name}", f"{text!r} is not a time of day as HH:MM")
            values[name] = text
    for name in ("start_date", "end_date"):
        text = raw.get(name)
        if text is not None:
            if not isinstance(text, str) or not _DATE.fullmatch(text):
                raise TariffError(f"{path}.{name}", f"{text!r} is not a date as YYYY-MM-DD")
            try:
                values[name] = date.fromisoformat(text)
            except ValueError:
                raise TariffError(f"{path}.{name}", f"{text!r} is not a calendar date") from None
    for name in _NUMBER_RESTRICTIONS:
        number = _number(raw.get(name), f"{path}.{name}")
        if number is not None:
            if number < 0:
                raise TariffError(f"{path}.{name}", "cannot be negative")
            values[name] = number
    for name in ("min_duration", "max_duration"):
        seconds = raw.get(name)
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
                raise TariffError(f"{path}.{name}", "a duration is a whole number of seconds")
            values[name] = seconds
    days = raw.get("day_of_week")
    if days is not None:
        if not isinstance(days, Sequence) or isinstance(days, str):
            raise TariffError(f"{path}.day_of_week", "a list of weekdays is expected")
        numbers = []
        for day in days:
            if day not in WEEKDAYS:
                raise TariffError(f"{path}.day_of_week", f"{day!r} is not a day of the week")
            numbers.append(WEEKDAYS.index(day))
        if len(set(numbers)) != len(numbers):
            raise TariffError(f"{path}.day_of_week", "a day is listed twice")
        values["day_of_week"] = tuple(sorted(numbers))
    reservation = raw.get("reservation")
    if reservation is not None:
        if not isinstance(reservation, str) or reservation not in Reservation.__members__:
            raise TariffError(f"{path}.reservation", f"{reservation!r} is not a reservation type")
        values["reservation"] = Reservation(reservation)
    restrictions = Restrictions(**values)
    for low, high in (
        ("start_date", "end_date"),
        ("min_kwh", "max_kwh"),
        ("min_current", "max_current"),
        ("min_power", "max_power"),
        ("min_duration", "max_duration"),
    ):
        lo, hi = getattr(restrictions, low), getattr(restrictions, high)
        if lo is not None and hi is not None and hi <= lo:
            raise TariffError(
                f"{path}.{high}", f"must be above {low}, or the element never applies"
            )
    return restrictions


def _refuse_unreachable(elements: Sequence[TariffElement]) -> None:
    """Refuse a component that an earlier element of the same dimension always shadows."""
    for later_index, later in enumerate(elements):
        for component in later.price_components:
            for earlier_index in range(later_index):
                earlier = elements[earlier_index]
                if any(c.type == component.type for c in earlier.price_components) and _covers(
                    earlier.restrictions, later.restrictions
                ):
                    position = later.price_components.index(component)
                    raise TariffError(
                        f"elements[{later_index}].price_components[{position}]",
                        f"this {component.type} price can never apply: elements[{earlier_index}] "
                        f"prices {component.type} whenever this element's restrictions match, "
                        "and the first matching element wins",
                    )


def _covers(first: Restrictions, second: Restrictions) -> bool:
    """True when ``first`` matches everywhere ``second`` does."""
    if first.reservation != second.reservation:
        return False
    first_minutes, second_minutes = first.minutes(), second.minutes()
    if first_minutes is not None and (
        second_minutes is None or not second_minutes <= first_minutes
    ):
        return False
    if first.start_date is not None and (
        second.start_date is None or second.start_date < first.start_date
    ):
        return False
    if first.end_date is not None and (second.end_date is None or second.end_date > first.end_date):
        return False
    for name in ("min_kwh", "min_current", "min_power", "min_duration"):
        bound, other = getattr(first, name), getattr(second, name)
        if bound is not None and (other is None or other < bound):
            return False
    for name in ("max_kwh", "max_current", "max_power", "max_duration"):
        bound, other = getattr(first, name), getattr(second, name)
        if bound is not None and (other is None or other > bound):
            return False
    return not (
        first.day_of_week and not set(second.day_of_week or range(7)) <= set(first.day_of_week)
    )


def _text(
    data: Mapping[str, Any], name: str, *, required: bool = False, max_length: int
) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise TariffError(name, "is required")
        return None
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise TariffError(name, f"must be text of 1 to {max_length} characters")
    return value


def _number(value: Any, path: str, *, required: bool = False) -> Decimal | None:
    if value is None:
        if required:
            raise TariffError(path, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise TariffError(path, f"{value!r} is not a number")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise TariffError(path, f"{value!r} is not a number") from None
    if not number.is_finite():
        raise TariffError(path, "must be a finite number")
    if abs(number) > MAX_NUMBER:
        raise TariffError(path, f"must be at most {MAX_NUMBER:,} (a price or a limit)")
    return number


def _price(value: Any, path: str) -> Price | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TariffError(path, "a price is an object with excl_vat and incl_vat")
    excl = _number(value.get("excl_vat"), f"{path}.excl_vat", required=True)
    incl = _number(value.get("incl_vat"), f"{path}.incl_vat")
    assert excl is not None
    if excl < 0 or (incl is not None and incl < 0):
        raise TariffError(path, "a price cannot be negative")
    if incl is not None and incl < excl:
        raise TariffError(
            f"{path}.incl_vat", "a price including VAT cannot be below it excluding VAT"
        )
    return Price(excl, incl)


def _moment(value: Any, path: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TariffError(path, "a timestamp is RFC 3339 text")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TariffError(path, f"{value!r} is not an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise TariffError(path, "a timestamp needs a time zone (OCPI's are UTC, with a Z)")
    return moment
