"""The project's data converter decodes every type that crosses Temporal exactly as
the default converter does, from the same bytes."""

from __future__ import annotations

import collections.abc
import dataclasses
import enum
import importlib
import inspect
import types
import typing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from activities.temporal_link import TemporalLink
from deploy.temporal_dev import wait_for_temporal
from workflows.domain import RemoteStartRequest, SessionStarted, SessionStopped
from workflows.payloads import DATA_CONVERTER, CsmsPayloadConverter
from workflows.profile_commands import SchedulePeriod, StartProfile

MODULES = [
    "workflows.domain",
    "workflows.commands",
    "workflows.smart_charging",
    "workflows.charging_session",
    "workflows.configuration_push",
    "workflows.site_charging",
    "activities.sessions",
    "activities.reservations",
    "activities.log_uploads",
    "optimizer.charging_profile",
]

DEFAULT = DataConverter.default.payload_converter
OURS = DATA_CONVERTER.payload_converter


def crossing_dataclasses() -> list[type]:
    """Every dataclass defined in the modules whose types go through Temporal."""
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if dataclasses.is_dataclass(cls) and cls.__module__ == name:
                found.append(cls)
    return found


VALID_SAMPLES: dict[Any, Any] = {
    # A schedule's first period starts at 0 s (the dataclass refuses any other).
    SchedulePeriod: SchedulePeriod(0, 2.5, 3),
    # Operators' stack levels are 2..8; every optional part filled all the same.
    StartProfile: StartProfile(
        [SchedulePeriod(0, 2.5, 3), SchedulePeriod(60, 1.5)],
        profile_id=2001,
        stack_level=3,
        rate_unit="A",
        kind="Absolute",
        start=datetime(2026, 12, 1, 13, 37, 5, 123000, tzinfo=UTC),
        duration_s=900,
        min_rate=1.0,
    ),
}


def sample(hint: Any, depth: int = 0) -> Any:
    """A value of ``hint`` with every optional part filled (so nesting is exercised)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return sample(next(a for a in args if a is not type(None)), depth)
    if origin is typing.Literal:
        return args[0]
    if origin in (list, tuple, collections.abc.Sequence):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return tuple(sample(a, depth + 1) for a in args)
        return [sample(args[0] if args else int, depth + 1)]
    if origin in (dict, collections.abc.Mapping):
        return {"k": sample(args[1] if args else int, depth + 1)}
    if hint is Any:
        return {"any": [1, "two"]}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return list(hint)[-1]
    if hint is datetime:
        return datetime(2026, 12, 1, 13, 37, 5, 123000, tzinfo=UTC)
    if hint is timedelta:
        return timedelta(seconds=90)
    if hint is Decimal:
        return Decimal("0.3050")
    if hint is bool:
        return True
    if hint is int:
        return 7 + depth
    if hint is float:
        return 2.5
    if hint is str:
        return f"s{depth}"
    if hint in VALID_SAMPLES:
        return VALID_SAMPLES[hint]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        values = {
            f.name: sample(hints[f.name], depth + 1) for f in dataclasses.fields(hint) if f.init
        }
        return hint(**values)
    raise LookupError(f"no sample for {hint!r}")


def test_every_crossing_dataclass_decodes_as_the_default_does() -> None:
    checked = []
    for cls in crossing_dataclasses():
        try:
            value = sample(cls)
        except (LookupError, TypeError, ValueError):
            continue  # a type with its own invariants; the session types below are direct
        payloads = DEFAULT.to_payloads([value])
        assert OURS.to_payloads([value]) == payloads, cls  # the same bytes on the wire
        assert OURS.from_payloads(payloads, [cls]) == DEFAULT.from_payloads(payloads, [cls])
        checked.append(cls)
    names = {c.__name__ for c in checked}
    assert {"SessionStarted", "SessionStopped", "ChargeDetailRecord", "SettleRequest"} <= names
    assert len(checked) >= 25, sorted(names)


def test_a_union_takes_the_member_that_fits_as_the_default_does() -> None:
    remote = sample(RemoteStartRequest)
    start = sample(SessionStarted)
    for value in (remote, start):
        payloads = DEFAULT.to_payloads([value])
        hint = typing.cast(type, SessionStarted | RemoteStartRequest)  # the workflow input
        assert OURS.from_payloads(payloads, [hint]) == [value]
        assert DEFAULT.from_payloads(payloads, [hint]) == [value]


def test_unknown_keys_are_ignored_and_missing_ones_fail_as_with_the_default() -> None:
    stop = SessionStopped("TX-1", 1200, datetime(2026, 12, 1, tzinfo=UTC), "Local")
    (payload,) = DEFAULT.to_payloads([stop])
    extra = payload.__class__()
    extra.CopyFrom(payload)
    extra.data = payload.data[:-1] + b', "added_later": 1}'
    assert OURS.from_payloads([extra], [SessionStopped]) == [stop]
    missing = payload.__class__()
    missing.CopyFrom(payload)
    missing.data = b'{"transaction_id": "TX-1"}'
    for converter in (DEFAULT, OURS):
        with pytest.raises(Exception, match=r"SessionStopped|stopped_at|missing"):
            converter.from_payloads([missing], [SessionStopped])
    wrong = payload.__class__()
    wrong.CopyFrom(payload)
    wrong.data = b'{"transaction_id": "TX-1", "meter_stop_wh": 1, "stopped_at": "nope"}'
    for converter in (DEFAULT, OURS):
        with pytest.raises(Exception, match=r"stopped_at|SessionStopped"):
            converter.from_payloads([wrong], [SessionStopped])


async def test_every_client_of_the_project_connects_with_it(
    temporal_dev: WorkflowEnvironment,
) -> None:
    address = temporal_dev.client.service_client.config.target_host
    for client in (
        await TemporalLink(address).client(),  # the gateway's and the API's
        await wait_for_temporal(address, "default"),  # the worker's
    ):
        assert client.data_converter.payload_converter_class is CsmsPayloadConverter
