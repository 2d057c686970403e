"""The API's error answers: a status code and a reason a person can act on."""

from __future__ import annotations

from fastapi import HTTPException, status


def not_found(kind: str, ident: object) -> HTTPException:
    """404 for an unknown resource."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{kind} {ident!r} not found")


def conflict(kind: str, ident: object) -> HTTPException:
    """409 for a resource that already exists."""
    return HTTPException(status.HTTP_409_CONFLICT, f"{kind} {ident!r} already exists")


def unprocessable(reason: str) -> HTTPException:
    """422 for a well-formed request that refers to something that does not exist."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, reason)
