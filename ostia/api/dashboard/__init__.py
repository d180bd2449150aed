"""The web dashboard served by the API process at /dashboard (linked from `GET /`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ostia.api.dashboard import login, routes

PATH = "/dashboard"
STATIC = Path(__file__).with_name("static")


def install(app: FastAPI) -> None:
    """Serve the dashboard's page, fragments, sign-in and static files from `app`."""
    app.include_router(routes.router)
    app.include_router(login.router)
    app.mount(PATH + "/static", StaticFiles(directory=STATIC), name="dashboard-static")


def is_public(path: str) -> bool:
    """Paths that carry no project data and answer without a token (page, files, sign-in)."""
    return path in (PATH, PATH + "/", PATH + "/login") or path.startswith(PATH + "/static/")
