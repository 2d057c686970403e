"""The VTN's routes, assembled under ``/openadr3``."""

from __future__ import annotations

from fastapi import APIRouter

from api.openadr3.auth import router as auth
from api.openadr3.events import router as events
from api.openadr3.programs import router as programs
from api.openadr3.reports import router as reports
from api.openadr3.subscriptions import router as subscriptions
from api.openadr3.vens import router as vens

router = APIRouter(prefix="/openadr3")
router.include_router(auth)
router.include_router(programs)
router.include_router(events)
router.include_router(reports)
router.include_router(subscriptions)
router.include_router(vens)
