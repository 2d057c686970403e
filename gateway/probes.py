"""A small HTTP endpoint per process for machines: ``/metrics`` (Prometheus text
format), ``/health`` (the process is alive) and ``/ready`` (its dependencies answer).

The gateway node and the worker serve it on a port of their own (the API serves the same
paths itself). GET only; anything else is 404 or 405. No credentials pass here and
no label carries personal data or a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

Checks = Callable[[], Awaitable[dict[str, str]]]
"""Each dependency's state: ``"ok"`` or why not."""


async def check(name: str, probe: Callable[[], Awaitable[object]], into: dict[str, str]) -> None:
    """Run one readiness probe (two seconds at most) and note its outcome."""
    try:
        await asyncio.wait_for(probe(), 2.0)
        into[name] = "ok"
    except Exception as exc:
        into[name] = f"{type(exc).__name__}: {exc}"[:200]


class ProbeServer:
    """Serves ``/metrics``, ``/health`` and ``/ready`` on ``host:port``."""

    def __init__(
        self,
        host: str,
        port: int,
        registries: list[CollectorRegistry],
        ready: Checks,
    ) -> None:
        self._host, self._port = host, port
        self._registries = registries
        self._ready = ready
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when configured as 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen."""
        self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            end = (b"\r\n", b"\n", b"")
            while await asyncio.wait_for(reader.readline(), 5) not in end:
                pass  # headers: nothing here needs them
            method, _, rest = request.decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            status, kind, body = await self._answer(method, path)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, method: str, path: str) -> tuple[str, str, bytes]:
        if path not in ("/metrics", "/health", "/ready"):
            return "404 Not Found", "text/plain", b"not found\n"
        if method != "GET":
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        if path == "/metrics":
            body = b"".join(generate_latest(r) for r in self._registries)
            return "200 OK", CONTENT_TYPE_LATEST, body
        if path == "/health":
            return "200 OK", "application/json", b'{"status":"alive"}'
        checks = await self._ready()
        ready = all(v == "ok" for v in checks.values())
        text = json.dumps({"status": "ready" if ready else "not ready", "checks": checks})
        return ("200 OK" if ready else "503 Service Unavailable"), "application/json", text.encode()
