"""What the per-version command translators share."""

from __future__ import annotations

from typing import Any

Encoded = tuple[str, dict[str, Any]]
"""An OCPP action and its request payload."""


class NotAvailable(Exception):
    """The command (or these arguments) has no form in the station's OCPP version."""

    def __init__(self, reason: str, *, invalid: bool = False) -> None:
        super().__init__(reason)
        # True: the arguments are wrong for the version; False: the operation is missing.
        self.invalid = invalid


def drop_none(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without absent optional fields (OCPP forbids nulls)."""
    return {k: v for k, v in payload.items() if v is not None}
