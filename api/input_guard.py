"""Refuses input no route can store: NUL characters in the path, the query or a JSON body.

PostgreSQL's text type cannot hold U+0000, so such a value would reach the
database and come back as a 500 from whichever route it met. One ASGI middleware
answers every route the same way (422, in the documented validation-error
shape) before any handler runs.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# A JSON string escape of U+0000 that is not itself escaped (\\u0000 is text).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000", re.IGNORECASE)
MAX_JSON_BYTES = 1 << 20
"""JSON bodies are read whole for the check; larger ones are refused (413)."""


def _error(status: int, where: str, message: str) -> tuple[int, bytes]:
    detail = [{"type": "value_error", "loc": [where], "msg": message, "input": None}]
    return status, json.dumps({"detail": detail}).encode()


class InputGuard:
    """ASGI middleware: 422 for NUL characters anywhere in a request's text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", ""):
            await _answer(send, *_error(422, "path", "NUL characters are not allowed"))
            return
        if b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            await _answer(send, *_error(422, "query", "NUL characters are not allowed"))
            return
        headers = dict(scope.get("headers") or [])
        media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        # application/json and every application/*+json that FastAPI parses as JSON.
        if not (media == b"application/json" or media.endswith(b"+json")):
            await self.app(scope, receive, send)
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_JSON_BYTES:
                await _answer(send, *_error(413, "body", "JSON bodies are limited to 1 MiB"))
                return
        if b"\x00" in body or _JSON_NUL.search(body):
            await _answer(send, *_error(422, "body", "NUL characters are not allowed"))
            return
        replayed = _replay([{"type": "http.request", "body": bytes(body)}], receive)
        await self.app(scope, replayed, send)


def _replay(messages: list[Message], then: Receive) -> Receive:
    """``messages`` first, then whatever the client sends next (its disconnect)."""
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        return await then()

    return receive


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    start: dict[str, Any] = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
