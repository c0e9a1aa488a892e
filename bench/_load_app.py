"""The app factory bench/load.py's web processes run (``uvicorn --factory --workers N``): what
``dailypapers serve --no-sync`` builds, minus the demo check and the scheduler (the bench's
database is loaded and migrated before the processes start). Replace it with
``dailypapers serve --workers N`` once that exists (bench/load.py, ``start_web``)."""

from __future__ import annotations

from fastapi import FastAPI

from dailypapers.db.engine import make_engine
from dailypapers.settings import get_settings
from dailypapers.web.app import create_app


def build() -> FastAPI:
    settings = get_settings()
    engine = make_engine(settings.effective_database_url, **settings.engine_options)
    return create_app(settings, engine, index_worker=True)
