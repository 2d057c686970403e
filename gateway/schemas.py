"""Compiled JSON-schema validators for every OCPP message, from the ``ocpp`` package's schemas.

``fastjsonschema`` compiles each schema to Python code once; that keeps
validation off the hot path's profile while still enforcing every rule.
A violation is mapped to the OCPP error kind that names it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from gateway.rpc import ErrorKind, OcppError

_SCHEMA_PACKAGE = {"1.6": "ocpp.v16", "2.0.1": "ocpp.v201", "2.1": "ocpp.v21"}

# Chargers in the field often omit the offset; a missing one is read as UTC by
# the handlers, everything else must still be an RFC 3339 date-time.
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?$"
)

_RULE_KIND = {
    "type": ErrorKind.TYPE,
    "required": ErrorKind.OCCURRENCE,
    "minItems": ErrorKind.OCCURRENCE,
    "maxItems": ErrorKind.OCCURRENCE,
    "additionalProperties": ErrorKind.FORMAT,
}

Validator = Callable[[Any], Any]


def _schema_file(version: str, name: str) -> Any:
    package = resources.files(_SCHEMA_PACKAGE[version]).joinpath("schemas")
    return package.joinpath(f"{name}.json")


def known_actions(version: str) -> frozenset[str]:
    """Every action the version defines (requests only)."""
    return _known_actions(version)


@cache
def _known_actions(version: str) -> frozenset[str]:
    folder = resources.files(_SCHEMA_PACKAGE[version]).joinpath("schemas")
    names = [entry.name.removesuffix(".json") for entry in folder.iterdir()]
    stems = {n.removesuffix("Request") for n in names if not n.endswith("Response")}
    return frozenset(stems)


@cache
def validator(version: str, action: str, response: bool) -> Validator | None:
    """The compiled validator of a message, or None if the version lacks the schema."""
    suffix = "Response" if response else ("" if version == "1.6" else "Request")
    path = _schema_file(version, f"{action}{suffix}")
    if not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema.pop("$id", None)
    return fastjsonschema.compile(
        schema, formats={"date-time": _DATE_TIME.pattern}, use_default=False
    )


def validate(
    version: str, action: str, payload: dict[str, Any], *, response: bool, message_id: str
) -> None:
    """Raise the right :class:`OcppError` if ``payload`` breaks the message's schema."""
    check = validator(version, action, response)
    if check is None:
        raise OcppError(ErrorKind.NOT_IMPLEMENTED, f"no schema for {action}", message_id=message_id)
    try:
        check(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        kind = _RULE_KIND.get(exc.rule or "", ErrorKind.PROPERTY)
        field = (exc.name or "data").removeprefix("data").lstrip(".") or "payload"
        raise OcppError(
            kind,
            f"{field}: {exc.message}",
            {"field": field, "rule": exc.rule},
            message_id=message_id,
        ) from None
