"""Secrets taken out of OCPP payloads before they are logged or stored for operators.

The message log is readable by any viewer key; a station's password (1.6
``AuthorizationKey``, 2.x ``SecurityCtrlr.BasicAuthPassword``), a private key, or
the bearer token of an upload URL must never be in it. Each rule names where a
secret sits in one action's request or response; values are replaced, the shape
of the message is kept, and the original payload is never modified.
"""

from __future__ import annotations

import re
from typing import Any

from workflows.commands import SECRET_SETTINGS

MASK = "***"

SECRET_CONFIGURATION_KEYS = frozenset(k for k in SECRET_SETTINGS if "." not in k)
"""1.6 configuration keys whose value is a secret (case-folded: keys are case-insensitive)."""

SECRET_VARIABLES = frozenset(k.split(".", 1)[1] for k in SECRET_SETTINGS if "." in k)
"""2.x device-model variables whose value is a secret (case-folded)."""

# Field names that hold a secret wherever they appear (vendor extensions, certificates).
_SECRET_FIELDS = frozenset({"password", "privateKey", "basicAuthPassword", "authorizationKey"})

_UPLOAD_TOKEN = re.compile(r"(/uploads/)[^/?#]+")


def secret_variable(variable: dict[str, Any]) -> bool:
    """Whether a 2.x ``variable`` object names a secret."""
    name = variable.get("name")
    return isinstance(name, str) and name.casefold() in SECRET_VARIABLES


def redact(payload: Any) -> Any:
    """An OCPP request or response with its secrets masked (a copy where it changed)."""
    if not isinstance(payload, dict):
        return payload
    return _walk(payload)


def _walk(value: Any) -> Any:
    if isinstance(value, list):
        return [_walk(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in _SECRET_FIELDS and isinstance(item, str):
            out[key] = MASK
        elif key in ("location", "remoteLocation") and isinstance(item, str):
            out[key] = _UPLOAD_TOKEN.sub(r"\1" + MASK, item)
        else:
            out[key] = _walk(item)
    # 1.6 ChangeConfiguration / GetConfiguration: {"key": ..., "value": ...}
    key = out.get("key")
    if isinstance(key, str) and key.casefold() in SECRET_CONFIGURATION_KEYS and "value" in out:
        out["value"] = MASK
    # 2.x SetVariables / GetVariables / NotifyReport: a variable with a value beside it.
    variable = out.get("variable")
    if (
        isinstance(variable, dict)
        and isinstance(variable.get("name"), str)
        and secret_variable(variable)
    ):
        if "attributeValue" in out:
            out["attributeValue"] = MASK
        if isinstance(out.get("variableAttribute"), list):
            out["variableAttribute"] = [
                {**a, "value": MASK} if isinstance(a, dict) and "value" in a else a
                for a in out["variableAttribute"]
            ]
    return out
