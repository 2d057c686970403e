"""OCPP timestamps: read leniently (a missing offset means UTC), always written with ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.rpc import ErrorKind, OcppError


def parse_timestamp(value: str, *, field: str = "timestamp") -> datetime:
    """Parse an OCPP date-time into an aware UTC datetime."""
    if value.endswith("z"):
        value = value[:-1] + "Z"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise OcppError(ErrorKind.PROPERTY, f"{field}: not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC year
        raise OcppError(ErrorKind.PROPERTY, f"{field}: out of the representable range") from None


def format_timestamp(value: datetime) -> str:
    """RFC 3339 UTC with millisecond precision and a trailing ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)
