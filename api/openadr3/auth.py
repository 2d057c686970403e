"""OAuth2 client credentials for utilities (RFC 6749 section 4.4) and the OpenADR 3.1
discovery endpoint; the utility principal every OpenADR route requires, with the
scope it needs: ``read_all`` to read (:data:`Utility`), ``write_programs``,
``write_events`` or ``write_subscriptions`` to change those objects."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse

from activities.persistence.repositories import utilities
from api.deps import Session

router = APIRouter(prefix="/auth", tags=["openadr3"])


SCOPES = ("read_all", "write_programs", "write_events", "write_subscriptions")
"""What a utility's token may hold: OpenADR 3's business-logic scopes (a token asked
without a scope holds them all; reports and VENs are the platform's to write)."""


@dataclass(frozen=True)
class UtilityPrincipal:
    """A utility's client, as its bearer token names it, and what the token may do."""

    client_id: str
    name: str
    sites: frozenset[str]
    scopes: frozenset[str] = frozenset(SCOPES)


def _oauth_error(code: str, description: str, status_code: int) -> JSONResponse:
    headers = {"WWW-Authenticate": "Basic"} if status_code == 401 else None
    return JSONResponse(
        {"error": code, "error_description": description}, status_code, headers=headers
    )


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret


_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "scope": {"type": "string"},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string"},
                    },
                }
            }
        },
    }
}


@router.post("/token", summary="OAuth2 token (client credentials)", openapi_extra=_FORM)
async def token(request: Request, session: Session) -> JSONResponse:
    """An access token for a utility's client: its id and secret by HTTP Basic (or in
    the form), ``grant_type=client_credentials``. Valid for an hour."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return _oauth_error(
            "invalid_request", "send an application/x-www-form-urlencoded body", 400
        )
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > 16 * 1024:
            return _oauth_error("invalid_request", "the form is limited to 16 KiB", 400)
    form = {k: v[-1] for k, v in parse_qs(raw.decode(errors="replace")).items()}
    grant_type, scope = form.get("grant_type"), form.get("scope")
    client_id, client_secret = form.get("client_id"), form.get("client_secret")
    if grant_type != "client_credentials":
        return _oauth_error("unsupported_grant_type", "only client_credentials", 400)
    credentials = _basic(request) or (
        (client_id, client_secret) if client_id and client_secret else None
    )
    if credentials is None:
        return _oauth_error("invalid_client", "client id and secret required", 401)
    client = await utilities.authenticate(session, *credentials)
    if client is None:
        return _oauth_error("invalid_client", "unknown client or wrong secret", 401)
    asked = scope.split() if scope else list(SCOPES)
    unknown = sorted(set(asked) - set(SCOPES))
    if unknown:
        return _oauth_error(
            "invalid_scope",
            f"a utility's token may hold {', '.join(SCOPES)}; not {', '.join(unknown)}",
            400,
        )
    issued = await utilities.issue_token(session, client, datetime.now(UTC), asked)
    await session.commit()
    body: dict[str, object] = {
        "access_token": issued,
        "token_type": "Bearer",
        "expires_in": int(utilities.TOKEN_LIFETIME.total_seconds()),
    }
    if scope is not None:
        body["scope"] = scope  # granted as asked: clients check it is unchanged
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/server", summary="OpenADR 3.1 discovery: where tokens come from")
async def server(request: Request) -> dict[str, str]:
    """The token endpoint's URL, on the host and port the client asked (no token
    needed to ask)."""
    return {"tokenURL": str(request.url_for("token"))}


async def _utility(request: Request, session: Session) -> UtilityPrincipal:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a utility's bearer token is required (POST /openadr3/auth/token)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = await utilities.client_of_token(session, header[7:].strip(), datetime.now(UTC))
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or expired token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    client, scopes = found
    return UtilityPrincipal(client.client_id, client.name, frozenset(client.sites), scopes)


def _holding(scope: str) -> Callable[[Request, Any], Awaitable[UtilityPrincipal]]:
    async def principal(request: Request, session: Session) -> UtilityPrincipal:
        utility = await _utility(request, session)
        if scope not in utility.scopes:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this token does not hold the {scope} scope (ask the token endpoint for it)",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope" scope="{scope}"'},
            )
        return utility

    return principal


Utility = Annotated[UtilityPrincipal, Depends(_holding("read_all"))]
"""The utility whose token the request carries, to read its objects (401 without a
valid token, 403 without ``read_all``)."""
ProgramWriter = Annotated[UtilityPrincipal, Depends(_holding("write_programs"))]
"""A utility that may create, change and delete its programs."""
EventWriter = Annotated[UtilityPrincipal, Depends(_holding("write_events"))]
"""A utility that may create, change and cancel its events."""
SubscriptionWriter = Annotated[UtilityPrincipal, Depends(_holding("write_subscriptions"))]
"""A utility that may create, change and delete its subscriptions."""
