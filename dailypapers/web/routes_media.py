"""``/media/<sha256>.<ext>``: thumbnails and organisation avatars fetched by the sync into
``<data_dir>/media/`` (dailypapers/ingest/media.py), served from our own origin.

A name is the hash of the bytes, so an answer never changes: browsers keep it a year. Only
names of the fetched form are looked up (no path from the request reaches the disk otherwise);
anything else is a 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse
from jinja2 import pass_context

from dailypapers.ingest.media import CONTENT_TYPES, FILE_NAME, MediaFile, MediaLookup, media_dir
from dailypapers.ingest.validate import safe_url
from dailypapers.web.cache import DATA_VERSION_STATE
from dailypapers.web.deps import request_reader
from dailypapers.web.request_reads import AppRoute

router = APIRouter(route_class=AppRoute)

CACHE_FOREVER = "public, max-age=31536000, immutable"


@router.get("/media/{name}", include_in_schema=False)
def media_file(request: Request, name: str) -> FileResponse:
    if not FILE_NAME.fullmatch(name):
        raise HTTPException(404, "no such image")
    path = media_dir(request.app.state.settings) / name
    if not path.is_file():
        raise HTTPException(404, "no such image")
    ext = name.rsplit(".", 1)[1]
    return FileResponse(path, media_type=CONTENT_TYPES[ext], headers={
        "Cache-Control": CACHE_FOREVER, "X-Content-Type-Options": "nosniff"})


def install(app: FastAPI, templates: Any) -> None:
    """The route, and ``media(url)`` for templates: the local file of a fetched image, or None."""
    lookup = MediaLookup(app.state.engine)
    app.state.media_lookup = lookup

    @pass_context
    def media(context: Any, url: object) -> MediaFile | None:
        url = safe_url(url) if isinstance(url, str) else None
        if url is None:
            return None
        # At most one catch-up query per page: the first URL it does not know yet.
        request = context.get("request")
        state = getattr(request, "state", None)
        first = state is not None and not getattr(state, "media_caught_up", False)
        if first:
            state.media_caught_up = True
        return lookup.get(url, refresh=first,
                          reader=(lambda: request_reader(request)) if request else None,
                          version=(request.scope.get("state", {}).get(DATA_VERSION_STATE)
                                   if request else None))

    templates.env.globals["media"] = media
    app.include_router(router)
