"""OpenADR 3 objects as the VTN reads and serves them (3.1.0 field names, camelCase).

Targets are served as 3.1 strings (site ids); 3.0.1 target objects
(``{"type": ..., "values": [...]}``) are read too, their values taken as the
targets. Durations are ISO 8601 (``PT1H``); every time carries its offset.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]


def targets_of(value: Any) -> list[str] | None:
    """3.1 strings, or the values of 3.0.1 target objects."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError("targets is a list")
    flat: list[str] = []
    for item in value:
        if isinstance(item, str):
            flat.append(item)
        elif isinstance(item, dict) and isinstance(item.get("values"), list):
            flat.extend(str(v) for v in item["values"])
        else:
            raise ValueError("a target is a string or an object with values")
    return flat


class Wire(BaseModel):
    """A camelCase OpenADR object; unknown fields are kept out, nulls accepted."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class IntervalPeriod(Wire):
    start: AwareDatetime
    duration: timedelta
    randomizeStart: timedelta | None = None


class ValuesMap(Wire):
    type: Name
    values: list[float | int | str | bool] = Field(min_length=1)


class Interval(Wire):
    id: int
    intervalPeriod: IntervalPeriod | None = None
    payloads: list[ValuesMap] = Field(min_length=1)


class EventPayloadDescriptor(Wire):
    payloadType: Name
    units: str | None = None
    currency: str | None = None
    # Required by the definition; a descriptor sent without it is read as one.
    objectType: Literal["EVENT_PAYLOAD_DESCRIPTOR"] = "EVENT_PAYLOAD_DESCRIPTOR"


class ReportDescriptor(Wire):
    payloadType: Name
    readingType: str | None = None
    units: str | None = None
    targets: list[str] | None = None
    aggregate: bool | None = None
    startInterval: int | None = None
    numIntervals: int | None = None
    historical: bool | None = None
    frequency: int | None = None
    repeat: int | None = None


class ProgramIn(Wire):
    """A program as a utility creates or replaces it."""

    programName: Name
    intervalPeriod: IntervalPeriod | None = None
    programDescriptions: list[dict[str, Any]] | None = None
    payloadDescriptors: list[EventPayloadDescriptor] | None = None
    targets: list[str] | None = None
    attributes: list[dict[str, Any]] | None = None

    _targets = field_validator("targets", mode="before")(targets_of)


class EventIn(Wire):
    """An event as a utility creates or replaces it."""

    programID: Name
    eventName: str | None = None
    priority: int | None = Field(default=None, ge=0)
    targets: list[str] | None = None
    payloadDescriptors: list[EventPayloadDescriptor] | None = None
    reportDescriptors: list[ReportDescriptor] | None = None
    intervalPeriod: IntervalPeriod | None = None
    intervals: list[Interval] = Field(min_length=1)
    duration: timedelta | None = None

    _targets = field_validator("targets", mode="before")(targets_of)


ObjectType = Literal["PROGRAM", "EVENT", "REPORT", "SUBSCRIPTION", "VEN", "RESOURCE"]
# 3.0.1 names operations by their HTTP method, 3.1 by what they do; both are read.
Operation = Literal["GET", "POST", "PUT", "DELETE", "READ", "CREATE", "UPDATE"]


class ObjectOperation(Wire):
    """Which operations on which objects call which webhook, with which token."""

    objects: list[ObjectType] = Field(min_length=1)
    operations: list[Operation] = Field(min_length=1)
    callbackUrl: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    bearerToken: Annotated[str, StringConstraints(max_length=4096)] | None = None

    @field_validator("callbackUrl")
    @classmethod
    def _absolute_http(cls, value: str) -> str:
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("callbackUrl must be an absolute http(s) URL")
        return value


class SubscriptionIn(Wire):
    """A subscription as a utility creates or replaces it."""

    clientName: Name
    programID: Name | None = None
    objectOperations: list[ObjectOperation] = Field(min_length=1, max_length=20)
    targets: list[str] | None = None

    _targets = field_validator("targets", mode="before")(targets_of)


def served(
    kind: Literal["PROGRAM", "EVENT", "SUBSCRIPTION"],
    ident: str,
    created: datetime,
    modified: datetime,
    body: BaseModel,
) -> dict[str, Any]:
    """The object as stored and served: the VTN's fields, then the utility's."""
    return {
        "id": ident,
        "createdDateTime": created.isoformat(),
        "modificationDateTime": modified.isoformat(),
        "objectType": kind,
        # Nulls left out: the definition makes most optional fields not nullable.
        **body.model_dump(mode="json", exclude_none=True),
    }
