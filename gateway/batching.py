"""Commands that carry many items (SetVariables, GetVariables) split into as few CALLs
as the station allows: its ``DeviceDataCtrlr.ItemsPerMessage`` and
``BytesPerMessage`` for the action, as it reported them (GetBaseReport)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

CALL_OVERHEAD_BYTES = 64
"""Room for the CALL's envelope ``[2, "<message id>", "<action>", ...]``."""


def limits(variables: Mapping[str, str | None], action: str) -> tuple[int | None, int | None]:
    """The station's items and bytes per message for ``action`` (None: not reported)."""

    def number(name: str) -> int | None:
        raw = variables.get(f"DeviceDataCtrlr.{name}[{action}]")
        try:
            value = int(raw) if raw is not None else None
        except ValueError:
            return None
        return value if value is not None and value > 0 else None

    return number("ItemsPerMessage"), number("BytesPerMessage")


def chunks(
    items: Sequence[T],
    payload_of: Callable[[Sequence[T]], object],
    max_items: int | None,
    max_bytes: int | None,
) -> list[list[T]]:
    """``items`` in order, cut so that no chunk has more than ``max_items`` and its
    payload (``payload_of``, as JSON, with the CALL's envelope) stays within
    ``max_bytes``; an item too large alone still goes, alone (the station answers)."""
    result: list[list[T]] = []
    current: list[T] = []
    for item in items:
        candidate = [*current, item]
        too_many = max_items is not None and len(candidate) > max_items
        size = len(json.dumps(payload_of(candidate), separators=(",", ":")).encode())
        too_big = max_bytes is not None and size + CALL_OVERHEAD_BYTES > max_bytes
        if current and (too_many or too_big):
            result.append(current)
            current = [item]
        else:
            current = candidate
    if current:
        result.append(current)
    return result
