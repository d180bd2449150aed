"""quotas: routes land with the API completion work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
