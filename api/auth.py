"""API-key authentication with roles.

Keys come from settings (``CSMS_API_KEYS='{"<key>": "operator"}'``). An
``operator`` may read and change everything; a ``viewer`` may only read.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader

_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


class Role(StrEnum):
    """What a key may do."""

    VIEWER = "viewer"
    OPERATOR = "operator"


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1}


def role_of(keys: Mapping[str, Role], presented: str) -> Role | None:
    """The role of ``presented``, compared in constant time against every key."""
    found: Role | None = None
    for key, role in keys.items():
        if hmac.compare_digest(key.encode(), presented.encode()):
            found = role
    return found


def require(minimum: Role) -> Callable[..., Role]:
    """A dependency admitting keys whose role is at least ``minimum``."""

    def check(request: Request, key: Annotated[str | None, Depends(_header)]) -> Role:
        if not key:
            auth = request.headers.get("Authorization", "")
            key = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        if not key:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing API key (X-API-Key header)")
        role = role_of(request.app.state.api_keys, key)
        if role is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown API key")
        if _RANK[role] < _RANK[minimum]:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"requires the {minimum} role")
        return role

    return check


Viewer = Annotated[Role, Depends(require(Role.VIEWER))]
Operator = Annotated[Role, Depends(require(Role.OPERATOR))]
