"""OCPP 2.x device-model names: components and variables as flat configuration keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.redaction import MASK, secret_variable
from workflows.domain import ReportedVariable


def device_model_key(item: dict[str, Any], attribute_type: str = "Actual") -> str:
    """The key of a 2.x component/variable pair (as NotifyReport and GetVariables name it):
    ``Component[instance]@evse.connector.Variable[instance]:Type``."""
    component, variable = item["component"], item["variable"]
    key = component["name"]
    if component.get("instance"):
        key += f"[{component['instance']}]"
    evse = component.get("evse")
    if evse:
        key += f"@{evse['id']}" + (f".{evse['connectorId']}" if "connectorId" in evse else "")
    key += f".{variable['name']}"
    if variable.get("instance"):
        key += f"[{variable['instance']}]"
    if attribute_type != "Actual":
        key += f":{attribute_type}"
    return key


def reported_variables(report_data: Sequence[dict[str, Any]]) -> tuple[ReportedVariable, ...]:
    """The values of a NotifyReport's ``reportData``."""
    found = []
    for item in report_data:
        for attribute in item.get("variableAttribute", []):
            mutability = attribute.get("mutability")
            value = attribute.get("value")
            found.append(
                ReportedVariable(
                    key=device_model_key(item, attribute.get("type", "Actual")),
                    # A secret the station reports is kept as "set", never its value.
                    value=MASK
                    if value is not None and secret_variable(item["variable"])
                    else value,
                    readonly=None if mutability is None else mutability == "ReadOnly",
                )
            )
    return tuple(found)
