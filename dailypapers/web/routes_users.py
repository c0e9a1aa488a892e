"""A page per user, ``/users/{username}``: the papers they submitted, newest first, paged, and
their public collections (private ones never show, not even as a count).

Unknown names are a 404. A suspended account's page still shows (its submissions stay on the
lists, so "submitted by" links must lead somewhere), marked as suspended."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse

from dailypapers.community.collections import public_collections_of
from dailypapers.community.submissions import submissions_of
from dailypapers.db.schema import users
from dailypapers.web.deps import ConnDep, render
from dailypapers.web.request_reads import AppRoute

router = APIRouter(include_in_schema=False, route_class=AppRoute)

PAGE_SIZE = 30
MAX_PAGE = 1000
MAX_NAME = 32  # usernames are 3-32 characters (community/accounts.py)


def _page_number(page: str | None) -> int:
    if page is None or page == "":
        return 1
    if not page.isascii() or not page.isdigit() or not 1 <= int(page) <= MAX_PAGE:
        raise HTTPException(400, f"invalid page {page[:20]!r}: expected a number from 1 to "
                                 f"{MAX_PAGE}")
    return int(page)


@router.get("/users/{username}", response_class=HTMLResponse)
def user_page(request: Request, username: str, conn: ConnDep,
              page: str | None = None) -> HTMLResponse:
    number = _page_number(page)
    row = None
    if len(username) <= MAX_NAME:
        row = conn.execute(
            sa.select(users.c.id, users.c.username, users.c.created_at, users.c.suspended_at)
            .where(users.c.username_key == username.lower())
        ).first()
    if row is None:
        raise HTTPException(404, f"No user {username[:MAX_NAME]!r}")
    total, shown = submissions_of(conn, row.id, limit=PAGE_SIZE,
                                  offset=(number - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    if number > pages:
        raise HTTPException(404, f"No page {number}: there are {pages}")
    path = f"/users/{row.username}"
    return render(request, "user.html", person=row, submissions=shown, total=total,
                  collections=public_collections_of(conn, row.id),
                  page=number, pages=pages,
                  page_link=lambda n: path + (f"?page={n}" if n > 1 else ""),
                  canonical=path + (f"?page={number}" if number > 1 else ""))
