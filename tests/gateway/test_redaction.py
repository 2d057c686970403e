"""What the message log and stored reports must never show."""

from __future__ import annotations

from gateway.redaction import MASK, redact


def test_passwords_private_keys_and_upload_tokens_are_masked() -> None:
    change = {"key": "AuthorizationKey", "value": "s3cret-s3cret-s3cret"}
    set_variables = {
        "setVariableData": [
            {
                "component": {"name": "SecurityCtrlr"},
                "variable": {"name": "BasicAuthPassword"},
                "attributeValue": "s3cret-s3cret-s3cret",
            },
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "attributeValue": "60",
            },
        ]
    }
    upload = {"location": "http://csms:8000/uploads/tok-abc123/", "retries": 1}
    vendor = {"vendorId": "x", "data": {"privateKey": "-----BEGIN KEY-----"}}
    assert redact(change) == {"key": "AuthorizationKey", "value": MASK}
    masked = redact(set_variables)["setVariableData"]
    assert masked[0]["attributeValue"] == MASK and masked[1]["attributeValue"] == "60"
    assert redact(upload)["location"] == f"http://csms:8000/uploads/{MASK}/"
    assert redact(vendor)["data"]["privateKey"] == MASK
    # The original payload is untouched (it is what the charger is sent).
    assert change["value"] == "s3cret-s3cret-s3cret"
    # Shapes that only look alike are left alone.
    assert redact({"key": ["AuthorizationKey"]}) == {"key": ["AuthorizationKey"]}
    assert redact({"key": "HeartbeatInterval", "value": "60"})["value"] == "60"


def test_secret_keys_are_masked_in_any_letter_case() -> None:
    """OCPP's keys and variable names are case-insensitive; so is the mask."""
    assert redact({"key": "authorizationkey", "value": "s3cret"})["value"] == MASK
    variable = {
        "component": {"name": "SecurityCtrlr"},
        "variable": {"name": "basicAuthPassword"},
        "attributeValue": "s3cret",
    }
    assert redact(variable)["attributeValue"] == MASK
