"""``/admin/jobs``: administrators only (403 for anyone else), read-only: each scheduled job's
slots (queued, running, failed, the last run), the one-off mails queued for the workers and
what the task queue holds, as `dailypapers
jobs` prints them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from dailypapers.job_runs import summaries
from dailypapers.job_status import job_names, last_run_text, mail_line, queue_line
from dailypapers.web.deps import ConnDep, RequireUser, render
from dailypapers.web.request_reads import AppRoute

router = APIRouter(include_in_schema=False, route_class=AppRoute)


@router.get("/admin/jobs", response_class=HTMLResponse)
def admin_jobs(request: Request, conn: ConnDep, user: RequireUser) -> HTMLResponse:
    if not user.is_admin:
        return render(request, "error.html", 403, title="Forbidden",
                      message="This page is for administrators.")
    settings = request.app.state.settings
    rows = summaries(conn, job_names(settings))
    queue, answered = queue_line(settings)
    return render(request, "admin_jobs.html", rows=rows, last_run=last_run_text,
                  mail=mail_line(conn), queue=queue, queue_answered=answered)
