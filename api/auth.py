"""API-key authentication with roles.

Keys come from settings (``CSMS_API_KEYS='{"<key>": "operator"}'``). An
``operator`` may read and change everything; a ``viewer`` may only read; a
``depot_manager:<site>,<site>`` key reaches only the smart-charging and fleet
endpoints of those sites (configure, plan, read), nothing else.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyHeader

_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


class Role(StrEnum):
    """What a key may do."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    DEPOT_MANAGER = "depot_manager"


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1}


@dataclass(frozen=True)
class Principal:
    """Who presented a key: a role, and for depot managers the sites they manage."""

    role: Role
    sites: frozenset[str] = frozenset()


def parse_grant(grant: str) -> Principal:
    """``operator``, ``viewer`` or ``depot_manager:<site>,<site>``."""
    role, _, sites = grant.partition(":")
    principal = Principal(Role(role), frozenset(s for s in sites.split(",") if s))
    if principal.role is Role.DEPOT_MANAGER and not principal.sites:
        raise ValueError("a depot_manager key names its sites: depot_manager:<site>,<site>")
    return principal


def principal_of(keys: Mapping[str, Principal], presented: str) -> Principal | None:
    """Who holds ``presented``, compared in constant time against every key."""
    found: Principal | None = None
    for key, principal in keys.items():
        if hmac.compare_digest(key.encode(), presented.encode()):
            found = principal
    return found


def _authenticate(request: Request, key: str | None) -> Principal:
    if not key:
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
    if not key:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing API key (X-API-Key header)")
    principal = principal_of(request.app.state.api_keys, key)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown API key")
    return principal


def require(minimum: Role) -> Callable[..., Principal]:
    """A dependency admitting keys whose role is at least ``minimum`` (all sites)."""

    def check(request: Request, key: Annotated[str | None, Depends(_header)]) -> Principal:
        principal = _authenticate(request, key)
        if principal.role not in _RANK:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "a depot manager's key reaches only its sites' plans"
            )
        if _RANK[principal.role] < _RANK[minimum]:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"requires the {minimum} role")
        return principal

    return check


def require_site(*, write: bool) -> Callable[..., Principal]:
    """A dependency for ``/sites/{site_id}/...`` smart-charging endpoints: operators, viewers
    (reading), and depot managers of that site."""

    def check(
        request: Request, site_id: str, key: Annotated[str | None, Depends(_header)]
    ) -> Principal:
        principal = _authenticate(request, key)
        if principal.role is Role.OPERATOR or (principal.role is Role.VIEWER and not write):
            return principal
        if principal.role is Role.DEPOT_MANAGER and site_id in principal.sites:
            return principal
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this key does not manage site {site_id}")

    return check


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
DepotViewer = Annotated[Principal, Depends(require_site(write=False))]
DepotManager = Annotated[Principal, Depends(require_site(write=True))]
