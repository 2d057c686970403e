"""OCPP-J framing and error spelling, without sockets."""

from __future__ import annotations

import json

import pytest

from gateway import rpc
from gateway.rpc import ErrorKind, OcppError


@pytest.mark.parametrize(
    ("raw", "kind", "message_id"),
    [
        ("not json", ErrorKind.FORMAT, "-1"),
        ('{"a": 1}', ErrorKind.FORMAT, "-1"),
        ("[]", ErrorKind.FORMAT, "-1"),
        ('[2, 17, "Heartbeat", {}]', ErrorKind.RPC_FRAMEWORK, "-1"),
        ('[2, "1", "Heartbeat"]', ErrorKind.RPC_FRAMEWORK, "1"),
        ('[2, "1", "Heartbeat", []]', ErrorKind.FORMAT, "1"),
        ('[9, "1", "Heartbeat", {}]', ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED, "1"),
    ],
)
def test_malformed_frames_are_classified(raw: str, kind: ErrorKind, message_id: str) -> None:
    with pytest.raises(OcppError) as caught:
        rpc.parse(raw)
    assert caught.value.kind is kind
    assert caught.value.message_id == message_id
    assert not isinstance(caught.value, rpc.MalformedResponse)


@pytest.mark.parametrize("raw", ['[3, "1"]', '[3, "1", []]', '[4, "1", "X"]'])
def test_malformed_responses_are_marked_never_to_be_answered(raw: str) -> None:
    with pytest.raises(rpc.MalformedResponse):
        rpc.parse(raw)


def test_well_formed_frames_parse() -> None:
    assert rpc.parse('[2,"a","Heartbeat",{}]') == rpc.Call("a", "Heartbeat", {})
    assert rpc.parse('[3,"a",{"x":1}]') == rpc.CallResult("a", {"x": 1})
    assert rpc.parse('[4,"a","NotSupported","no",{}]') == rpc.CallErrorFrame(
        "a", "NotSupported", "no", {}
    )


def test_error_codes_use_each_versions_spelling() -> None:
    error = OcppError(ErrorKind.OCCURRENCE, "missing", message_id="7")
    assert json.loads(rpc.call_error(error, "1.6")) == [
        4,
        "7",
        "OccurenceConstraintViolation",
        "missing",
        {},
    ]
    assert json.loads(rpc.call_error(error, "2.0.1"))[2] == "OccurrenceConstraintViolation"
    assert rpc.error_code(ErrorKind.FORMAT, "1.6") == "FormationViolation"
    assert rpc.error_code(ErrorKind.FORMAT, "2.1") == "FormatViolation"
