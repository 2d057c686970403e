"""The VTN's routes, assembled under ``/openadr3``."""

from __future__ import annotations

from fastapi import APIRouter

from api.openadr3.auth import router as auth
from api.openadr3.events import router as events
from api.openadr3.programs import router as programs
from api.openadr3.reports import router as reports

router = APIRouter(prefix="/openadr3")
router.include_router(auth)
router.include_router(programs)
router.include_router(events)
router.include_router(reports)
