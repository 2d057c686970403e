"""OCPP-J framing: CALL / CALLRESULT / CALLERROR messages and the errors a frame can earn.

The error names differ between versions (1.6 spells ``FormationViolation`` and
``OccurenceConstraintViolation``); :class:`ErrorKind` holds the meaning and
:func:`error_code` the spelling for a given version.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

CALL, CALLRESULT, CALLERROR = 2, 3, 4
UNKNOWN_MESSAGE_ID = "-1"
"""Message id used in a CALLERROR when the offending frame's id cannot be read."""

MAX_DEPTH = 32
"""Deepest nesting of arrays and objects a frame may have. OCPP's deepest messages
(NotifyReport, charging profiles) nest under a dozen levels; anything far deeper is an
attack on the recursion of every later step (validation, logging, the database)."""


class ErrorKind(Enum):
    """What went wrong, independent of how a version spells it."""

    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL = "InternalError"
    PROTOCOL = "ProtocolError"
    SECURITY = "SecurityError"
    FORMAT = "FormatViolation"
    PROPERTY = "PropertyConstraintViolation"
    OCCURRENCE = "OccurrenceConstraintViolation"
    TYPE = "TypeConstraintViolation"
    GENERIC = "GenericError"
    RPC_FRAMEWORK = "RpcFrameworkError"
    MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"


_V16_SPELLING = {
    ErrorKind.FORMAT: "FormationViolation",
    ErrorKind.OCCURRENCE: "OccurenceConstraintViolation",
    # 1.6 has neither; ProtocolError is its nearest meaning.
    ErrorKind.RPC_FRAMEWORK: "ProtocolError",
    ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED: "ProtocolError",
}


def error_code(kind: ErrorKind, ocpp_version: str) -> str:
    """The CALLERROR code for ``kind`` as ``ocpp_version`` spells it."""
    if ocpp_version == "1.6":
        return _V16_SPELLING.get(kind, kind.value)
    return kind.value


@dataclass
class OcppError(Exception):
    """An error answered to the peer as a CALLERROR; the connection stays up."""

    kind: ErrorKind
    description: str
    details: dict[str, Any] = field(default_factory=dict)
    message_id: str = UNKNOWN_MESSAGE_ID

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.description}"


class MalformedResponse(OcppError):
    """A broken CALLRESULT or CALLERROR: logged, never answered."""


@dataclass(frozen=True)
class Call:
    """A request: ``[2, id, action, payload]``."""

    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class CallResult:
    """A response: ``[3, id, payload]``."""

    message_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class CallErrorFrame:
    """An error response: ``[4, id, code, description, details]``."""

    message_id: str
    code: str
    description: str
    details: dict[str, Any]


Frame = Call | CallResult | CallErrorFrame


def _no_constant(name: str) -> float:
    # json accepts NaN and Infinity by default; JSON (RFC 8259) and OCPP do not, and a
    # non-finite number breaks every sum it reaches.
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # e.g. 1e400 overflows to infinity
        raise ValueError(f"number {text[:20]} is out of range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


def _depth(value: Any) -> int:
    """Nesting depth of a decoded value, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in item)
    return deepest


def decode(raw: str | bytes) -> Any:
    """Decode a frame's JSON: finite numbers only, at most :data:`MAX_DEPTH` levels deep."""
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
        message = _DECODER.decode(text)
    except RecursionError:
        raise OcppError(ErrorKind.FORMAT, "frame nests too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise OcppError(ErrorKind.FORMAT, f"frame is not valid JSON: {exc}") from None
    # Counting brackets is cheap; only a frame that could be deep is walked.
    if (text.count("[") + text.count("{")) > MAX_DEPTH and _depth(message) > MAX_DEPTH:
        raise OcppError(ErrorKind.FORMAT, f"frame nests deeper than {MAX_DEPTH} levels")
    return message


def parse(raw: str | bytes) -> Frame:
    """Parse one OCPP-J frame, raising :class:`OcppError` for anything malformed."""
    message = decode(raw)
    if not isinstance(message, list) or not message:
        raise OcppError(ErrorKind.FORMAT, "frame must be a non-empty JSON array")
    message_id = message[1] if len(message) > 1 and isinstance(message[1], str) else None
    if message_id is None or len(message_id) > 36:
        raise OcppError(ErrorKind.RPC_FRAMEWORK, "message id must be a string of at most 36")
    kind = message[0]
    if kind == CALL:
        if len(message) != 4 or not isinstance(message[2], str):
            raise OcppError(
                ErrorKind.RPC_FRAMEWORK,
                "CALL must be [2, id, action, payload]",
                message_id=message_id,
            )
        if not isinstance(message[3], dict):
            raise OcppError(
                ErrorKind.FORMAT, "CALL payload must be a JSON object", message_id=message_id
            )
        return Call(message_id, message[2], message[3])
    if kind == CALLRESULT and len(message) == 3 and isinstance(message[2], dict):
        return CallResult(message_id, message[2])
    if kind == CALLERROR and len(message) == 5:
        details = message[4] if isinstance(message[4], dict) else {}
        return CallErrorFrame(message_id, str(message[2]), str(message[3]), details)
    if kind in (CALLRESULT, CALLERROR):
        raise MalformedResponse(
            ErrorKind.RPC_FRAMEWORK, "malformed response frame", message_id=message_id
        )
    raise OcppError(
        ErrorKind.MESSAGE_TYPE_NOT_SUPPORTED,
        f"unknown message type {kind!r}",
        message_id=message_id,
    )


def _dumps(message: list[Any]) -> str:
    # allow_nan=False: never send a NaN or Infinity a strict peer cannot parse.
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def call_result(message_id: str, payload: dict[str, Any]) -> str:
    """Serialise a CALLRESULT."""
    return _dumps([CALLRESULT, message_id, payload])


def call(message_id: str, action: str, payload: dict[str, Any]) -> str:
    """Serialise a CALL."""
    return _dumps([CALL, message_id, action, payload])


def call_error(error: OcppError, ocpp_version: str) -> str:
    """Serialise a CALLERROR in the spelling of ``ocpp_version``."""
    description = error.description[:255]
    return _dumps(
        [
            CALLERROR,
            error.message_id,
            error_code(error.kind, ocpp_version),
            description,
            error.details,
        ]
    )
