"""What the gateway accepts from a station: numbers and ids range-checked at the edge.

The JSON schemas of OCPP say ``integer`` and ``number`` with no bounds, so a
charger may send a connector id of 2^40 or a meter reading of 10^20 Wh. Such a
value must never reach a database column it overflows (an InternalError on
every retry) or a sum it poisons. Messages that only report a state are refused
with PropertyConstraintViolation; transaction messages are never refused: the
bad value is dropped and the correction is noted, so the stop is still
acknowledged and settled and an operator can see what was changed.
"""

from __future__ import annotations

from datetime import datetime

from gateway.rpc import ErrorKind, OcppError
from gateway.timestamps import parse_timestamp, utcnow

MAX_ID = 2**31 - 1
"""Largest connector, EVSE, reservation, remote-start or request id stored (32-bit columns)."""

MAX_REGISTER_WH = 2**53
"""Largest energy register taken (9 TWh, exact in a float; no meter gets near it)."""

MAX_SAMPLE = 1e15
"""Largest magnitude of any normalised sample (W, Wh, A, V ...) kept."""


def station_id_field(value: int, field: str) -> int:
    """An id a state message names (connector, EVSE): refused when out of range."""
    if not 0 <= value <= MAX_ID:
        raise OcppError(ErrorKind.PROPERTY, f"{field} {value} is out of range (0..{MAX_ID})")
    return value


def id_or_zero(value: int, field: str, notes: list[str]) -> int:
    """A connector or EVSE id of a transaction message: 0 (unknown) when out of range."""
    if 0 <= value <= MAX_ID:
        return value
    notes.append(f"{field} {value} out of range: stored as 0")
    return 0


def id_or_none(value: int | None, field: str, notes: list[str]) -> int | None:
    """An optional id of a transaction message (remote start, reservation): dropped
    when out of range (no id the CSMS handed out can be that large)."""
    if value is None or 0 <= value <= MAX_ID:
        return value
    notes.append(f"{field} {value} out of range: ignored")
    return None


def register_or_none(value: int | float | None, field: str, notes: list[str]) -> int | None:
    """An energy register in Wh, or None (settlement then uses the samples)."""
    if value is None:
        return None
    if not 0 <= value <= MAX_REGISTER_WH:
        notes.append(f"{field} {value} Wh out of range: ignored")
        return None
    return round(value)


def event_time(value: str, field: str, notes: list[str]) -> datetime:
    """A transaction message's time; the gateway's clock, noted, when it cannot be
    represented (a year-9999 time with an offset overflows)."""
    return event_time_as_sent(value, field, notes)[0]


def event_time_as_sent(value: str, field: str, notes: list[str]) -> tuple[datetime, str | None]:
    """:func:`event_time`, and the charger's value when the gateway's clock stood in for
    it: a retry of the message carries the same value, never the same clock reading."""
    try:
        return parse_timestamp(value, field=field), None
    except OcppError:
        notes.append(f"{field} {value[:40]!r} unusable: the gateway's clock taken")
        return utcnow(), value[:64]
