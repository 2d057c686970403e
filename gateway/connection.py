"""One charger's WebSocket: the receive loop, request dispatch and outgoing calls."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from opentelemetry import trace
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from gateway import rpc, schemas
from gateway.message_log import MessageLog
from gateway.metrics import GatewayMetrics
from gateway.rate_limit import TokenBucket
from gateway.redaction import redact
from gateway.rpc import ErrorKind, OcppError

log = logging.getLogger(__name__)
TRACER = trace.get_tracer("csms.gateway")


class ChargerError(Exception):
    """The charger answered one of our CALLs with a CALLERROR."""

    def __init__(self, code: str, description: str, details: Any) -> None:
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description
        self.details = details


Handler = Callable[["OcppConnection", dict[str, Any]], Awaitable[dict[str, Any]]]


class ProtocolHandlers(Protocol):
    """The per-version table of charger-initiated actions the CSMS answers."""

    version: str

    def handler(self, action: str) -> Handler | None:
        """The coroutine answering ``action``, or None if the CSMS does not take it."""


WARN_EVERY_S = 60.0
"""Refusals by the rate limit are logged at WARNING at most this often per connection."""

# What a station may send before it is accepted (pending or rejected), in every version.
ALLOWED_BEFORE_ACCEPTANCE = frozenset({"BootNotification", "Heartbeat"})


def accepted_only(handler: Handler) -> Handler:
    """Wrap ``handler`` to refuse stations that are not accepted (pending or rejected)."""

    async def checked(conn: OcppConnection, payload: dict[str, Any]) -> dict[str, Any]:
        if conn.context.registration_status != "accepted":
            raise OcppError(ErrorKind.SECURITY, "station is not accepted by the CSMS yet")
        return await handler(conn, payload)

    return checked


def guarded(table: dict[str, Handler], action: str) -> Handler | None:
    """The handler of ``action`` from ``table``, refusing stations not yet accepted."""
    found = table.get(action)
    if found is None:
        return None
    return found if action in ALLOWED_BEFORE_ACCEPTANCE else accepted_only(found)


@dataclass
class StationContext:
    """What the gateway knows about the station behind a connection."""

    station_id: str
    site_id: str | None
    registration_status: str
    ocpp_version: str = "1.6"
    connection_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # Whether a new transaction may answer a remote start or meet a reservation: true
    # on a fresh connection and whenever this node sends RemoteStart or ReserveNow;
    # false once a start found none pending. Saves two queries per start otherwise.
    claims_possible: bool = True
    # Bumped with every such command, so a check that raced one does not clear the flag.
    claims_generation: int = 0
    # 2.x: whether the station shows running costs (TariffCostCtrlr); None: not read yet.
    shows_costs: bool | None = None


class OcppConnection:
    """Serves the CALLs of one charger in order and correlates the CSMS's own CALLs."""

    def __init__(
        self,
        websocket: ServerConnection,
        context: StationContext,
        handlers: ProtocolHandlers,
        rate_limit: TokenBucket | None = None,
        message_log: MessageLog | None = None,
        on_call: Callable[[StationContext, str], None] | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.websocket = websocket
        self.context = context
        self.handlers = handlers
        self.rate_limit = rate_limit
        self.version = handlers.version
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        # OCPP-J: one CALL of ours in flight at a time; others wait here, in order
        # (asyncio's lock wakes its waiters first come, first served).
        self._call_slot = asyncio.Lock()
        self.message_log = message_log
        # Told of every CALL the station sends (liveness: one timestamp, no write).
        self._on_call = on_call
        self.metrics = metrics
        self._refused, self._warned_at = 0, -WARN_EVERY_S

    @property
    def station_id(self) -> str:
        """The charger's identity (from the URL path)."""
        return self.context.station_id

    async def serve(self) -> None:
        """Answer frames until the socket closes."""
        try:
            async for raw in self.websocket:
                if isinstance(raw, bytes):
                    # OCPP-J carries its frames as WebSocket text; a binary frame is
                    # refused the way RFC 6455 says (1003: unsupported data).
                    log.info("%s sent a binary frame; closing", self.station_id)
                    await self.websocket.close(1003, "OCPP-J frames must be text frames")
                    break
                reply = await self.handle_frame(raw)
                if reply is not None:
                    await self.websocket.send(reply)
        except ConnectionClosed:
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"{self.station_id} disconnected"))

    async def handle_frame(self, raw: str | bytes) -> str | None:
        """The serialised answer to one incoming frame (None for responses to our calls)."""
        try:
            frame = rpc.parse(raw)
        except rpc.MalformedResponse as error:
            # OCPP-J never answers a response, even a broken one.
            log.info("%s sent a malformed response: %s", self.station_id, error)
            return None
        except OcppError as error:
            log.info("%s sent a malformed frame: %s", self.station_id, error)
            return rpc.call_error(error, self.version)
        if isinstance(frame, rpc.Call):
            if self._on_call is not None:
                self._on_call(self.context, frame.action)
            if self.rate_limit is not None and not self.rate_limit.allow():
                self._warn_refused()
                limited = OcppError(
                    ErrorKind.GENERIC,
                    "message rate limit exceeded; retry later",
                    message_id=frame.message_id,
                )
                # Logged without its payload: a flood must not fill the log with itself.
                omitted = rpc.Call(
                    frame.message_id,
                    frame.action,
                    {"omitted": "refused by the rate limit", "bytes": len(raw)},
                )
                self._log_refusal(omitted, limited, 0.0)
                return rpc.call_error(limited, self.version)
            return await self._answer(frame)
        future = self._pending.pop(frame.message_id, None)
        if future is None or future.done():
            log.info("%s answered unknown message %s", self.station_id, frame.message_id)
        elif isinstance(frame, rpc.CallResult):
            future.set_result(frame.payload)
        else:
            future.set_exception(ChargerError(frame.code, frame.description, frame.details))
        return None

    def _warn_refused(self) -> None:
        """One WARNING line per connection per :data:`WARN_EVERY_S` for refused frames,
        with how many were refused since the last one."""
        self._refused += 1
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            log.warning(
                "%s exceeds the message rate limit (%d frames refused)",
                self.station_id,
                self._refused,
            )
            self._warned_at, self._refused = now, 0

    def _log(
        self,
        direction: Literal["in", "out"],
        message_id: str,
        action: str,
        request: Any,
        response: Any,
        began: float,
        error_code: str | None = None,
    ) -> None:
        """One exchange (a CALL and its answer) in the message log, secrets masked, and
        in the node's metrics."""
        if self.metrics is not None:
            seconds = time.perf_counter() - began
            # A label per action OCPP knows: a station's made-up names cannot grow it.
            label = action if action in schemas.known_actions(self.version) else "other"
            result = error_code or "ok"
            if direction == "in":
                self.metrics.answered(label, result, seconds)
            else:
                self.metrics.called(label, result, seconds)
        if self.message_log is not None:
            self.message_log.record(
                self.station_id,
                direction,
                message_id,
                action,
                redact(request),
                redact(response),
                duration_ms=round((time.perf_counter() - began) * 1000, 3),
                error_code=error_code,
            )

    def _log_refusal(self, call: rpc.Call, error: OcppError, began: float) -> None:
        code = rpc.error_code(error.kind, self.version)
        answer = {"description": str(error), "details": error.details}
        self._log("in", call.message_id, call.action, call.payload, answer, began, code)

    async def _answer(self, call: rpc.Call) -> str:
        # One span per station message: the outbox carries its context on to Temporal.
        with TRACER.start_as_current_span(
            f"ocpp {call.action}",
            kind=trace.SpanKind.SERVER,
            attributes={"csms.station_id": self.station_id, "ocpp.version": self.version},
        ):
            return await self._answer_traced(call)

    async def _answer_traced(self, call: rpc.Call) -> str:
        began = time.perf_counter()
        try:
            handler = self.handlers.handler(call.action)
            if handler is None:
                kind = (
                    ErrorKind.NOT_SUPPORTED
                    if call.action in schemas.known_actions(self.version)
                    else ErrorKind.NOT_IMPLEMENTED
                )
                raise OcppError(kind, f"action {call.action!r} is not accepted from a charger")
            schemas.validate(
                self.version, call.action, call.payload, response=False, message_id=call.message_id
            )
            result = await handler(self, call.payload)
            try:
                schemas.validate(
                    self.version, call.action, result, response=True, message_id=call.message_id
                )
            except OcppError as bug:
                # A response that breaks the schema is our bug, not the charger's: never
                # send it, and say so.
                log.error(
                    "%s %s: invalid response %s: %s", self.station_id, call.action, result, bug
                )
                raise OcppError(ErrorKind.INTERNAL, "internal error") from None
            self._log("in", call.message_id, call.action, call.payload, result, began)
            return rpc.call_result(call.message_id, result)
        except OcppError as error:
            error.message_id = call.message_id
            log.info("%s %s rejected: %s", self.station_id, call.action, error)
            self._log_refusal(call, error, began)
            return rpc.call_error(error, self.version)
        except Exception:
            log.exception("%s %s failed", self.station_id, call.action)
            internal = OcppError(ErrorKind.INTERNAL, "internal error", message_id=call.message_id)
            self._log_refusal(call, internal, began)
            return rpc.call_error(internal, self.version)

    async def call(self, action: str, payload: dict[str, Any], *, timeout: float = 30.0) -> Any:
        """Send a CALL to the charger and wait for its result.

        Calls to one charger go out one at a time, in order, as OCPP-J requires; the
        wait for the previous one counts against ``timeout``, and a call still
        waiting then is never sent. Raises :class:`ChargerError` for a CALLERROR,
        ``TimeoutError`` when the charger does not answer in ``timeout`` seconds, and
        ``ConnectionError`` when the socket closes first.
        """
        deadline = time.monotonic() + timeout
        try:
            await asyncio.wait_for(self._call_slot.acquire(), timeout)
        except TimeoutError:
            log.info("%s: %s not sent, an earlier call still waits", self.station_id, action)
            raise
        try:
            return await self._call(action, payload, max(0.0, deadline - time.monotonic()))
        finally:
            self._call_slot.release()

    async def _call(self, action: str, payload: dict[str, Any], timeout: float) -> Any:
        message_id = str(uuid.uuid4())
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        began = time.perf_counter()
        try:
            try:
                await self.websocket.send(rpc.call(message_id, action, payload))
            except ConnectionClosed as closed:
                raise ConnectionError(f"{self.station_id} disconnected") from closed
            answer = await asyncio.wait_for(future, timeout)
        except ChargerError as error:
            details = {"description": error.description, "details": error.details}
            self._log("out", message_id, action, payload, details, began, error.code)
            raise
        except TimeoutError:
            self._log("out", message_id, action, payload, None, began, "Timeout")
            raise
        except ConnectionError:
            self._log("out", message_id, action, payload, None, began, "Disconnected")
            raise
        finally:
            self._pending.pop(message_id, None)
        self._log("out", message_id, action, payload, answer, began)
        return answer
