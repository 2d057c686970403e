"""A local HTTP server answering the Stripe API calls the adapter makes with Stripe's
recorded response shapes (``stripe_shapes.json``), the way Stripe would: amounts
and states follow the requests, a repeated idempotency key gets the first answer,
and ``pm_card_chargeDeclinedInsufficientFunds`` is declined. Stripe itself is not
reachable here; the real ``stripe`` package talks to this over real HTTP."""

from __future__ import annotations

import copy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

SHAPES = json.loads((Path(__file__).parent / "stripe_shapes.json").read_text())
DECLINED = "pm_card_chargeDeclinedInsufficientFunds"


class StripeStandIn:
    """Stripe's PaymentIntents API, as far as manual capture goes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, list[str]], dict[str, str]]] = []
        self.intents: dict[str, dict[str, Any]] = {}
        self._answers: dict[str, tuple[int, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                headers = dict(self.headers.items())
                code, body = stand_in.answer(self.path, form, headers)
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Request-Id", f"req_{len(stand_in.calls)}")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> StripeStandIn:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(
        self, path: str, form: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """Stripe's answer to one call (the first answer again for a repeated key)."""
        with self._lock:
            self.calls.append(("POST", path, form, headers))
            key = headers.get("Idempotency-Key")
            if key and key in self._answers:
                return self._answers[key]
            result = self._handle(path, form)
            if key:
                self._answers[key] = result
            return result

    def _handle(self, path: str, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        one = {k: v[0] for k, v in form.items()}
        parts = path.strip("/").split("/")
        if parts == ["v1", "payment_intents"]:
            if one.get("payment_method") == DECLINED:
                return 402, copy.deepcopy(SHAPES["card_declined"])
            intent = copy.deepcopy(SHAPES["payment_intent"])
            ident = f"pi_{len(self.intents) + 1:04d}standin"
            intent.update(
                id=ident,
                amount=int(one["amount"]),
                amount_capturable=int(one["amount"]),
                currency=one["currency"],
                payment_method=one["payment_method"],
                description=one.get("description"),
                customer=one.get("customer"),
                created=int(time.time()),
                client_secret=f"{ident}_secret_standin",
            )
            self.intents[ident] = intent
            return 200, intent
        if len(parts) == 4 and parts[:2] == ["v1", "payment_intents"]:
            intent = self.intents.get(parts[2])
            if intent is None:
                return 404, {"error": {"type": "invalid_request_error", "code": "resource_missing"}}
            if parts[3] == "capture":
                take = int(one.get("amount_to_capture", intent["amount_capturable"]))
                intent.update(amount_received=take, amount_capturable=0, status="succeeded")
            elif parts[3] == "cancel":
                intent.update(
                    amount_capturable=0,
                    status="canceled",
                    canceled_at=int(time.time()),
                    cancellation_reason=one.get("cancellation_reason"),
                )
            return 200, copy.deepcopy(intent)
        return 404, {"error": {"type": "invalid_request_error", "message": f"no route {path}"}}
