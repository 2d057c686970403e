"""The API's error answers: a status code and a reason a person can act on."""

from __future__ import annotations

from fastapi import HTTPException, status


def not_found(kind: str, ident: object) -> HTTPException:
    """404 for an unknown resource."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{kind} {ident!r} not found")


def conflict(kind: str, ident: object) -> HTTPException:
    """409 for a resource that already exists."""
    return HTTPException(status.HTTP_409_CONFLICT, f"{kind} {ident!r} already exists")


def unprocessable(reason: str, *, where: str = "body") -> HTTPException:
    """422 for a well-formed request that refers to something that does not exist, in
    the shape every 422 of the API has (the documented validation error)."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"type": "value_error", "loc": [where], "msg": reason, "input": None}],
    )
