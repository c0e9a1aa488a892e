"""Submissions: a signed-in user puts an arXiv paper on today's (UTC) list.

A submission names a paper by arXiv id or URL (``ids.split_arxiv_id``) and may carry a comment
(stored as plain text in ``submissions.note``; threaded comments are another feature). It becomes
a ``feature_days`` row of today with source ``local``, our user as submitter (name and JSON as
the rest of the code reads Hugging Face's, plus ``submitter_user_id``), and a ``submissions`` row.

Refused, each with a reason the user can act on (:class:`Refused`):
- not an arXiv id or URL;
- already featured on some day (the answer links to the paper);
- its first version is older than DAILYPAPERS_SUBMIT_MAX_AGE_DAYS;
- the account's allowance for the UTC day is used up: DAILYPAPERS_SUBMIT_PER_DAY, or
  DAILYPAPERS_SUBMIT_PER_DAY_NEW_ACCOUNT while the account is younger than NEW_ACCOUNT_DAYS;
- arXiv does not know the id.

A paper not yet stored is fetched from the arXiv API (``id_list=``) and stored by the importer's
own ``ingest.service.store_items`` under an ``ingest_runs`` row of source ``submission``. The
fetch happens between transactions (never holding SQLite's write lock while arXiv thinks): the
run row is committed first, so an outage leaves it ``failed`` with the error and nothing else.
That is why :func:`submit_paper` takes an engine; every other function takes a connection and
never commits.
"""

from __future__ import annotations

import datetime as dt
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dailypapers.catalog import VISIBLE_PAPER
from dailypapers.community.users import User
from dailypapers.db.engine import db_now, read_transaction, write_transaction
from dailypapers.db.schema import feature_days, papers, submissions, users
from dailypapers.ids import InvalidArxivId, split_arxiv_id
from dailypapers.ingest.records import ParsedItem, Refusal
from dailypapers.ingest.service import (
    LOCAL_SOURCE, Counts, finish_run, record_progress, start_run, store_items,
)
from dailypapers.ingest.validate import RecordLimits
from dailypapers.rank.stored import refresh_scores
from dailypapers.rank.trending import TrendingParams

NEW_ACCOUNT_DAYS = 7  # younger accounts get DAILYPAPERS_SUBMIT_PER_DAY_NEW_ACCOUNT
MAX_NOTE_CHARS = 2000
MAX_ID_CHARS = 200  # the longest arXiv URL is far shorter; a longer input is not one
RUN_SOURCE = "submission"
# A web request waits for arXiv: one retry, not the sync's four.
FETCH_RETRIES = 1

# One arXiv request at a time from this process, so the polite client's pause between two
# requests holds across concurrent submissions too.
_ARXIV_TURN = threading.Lock()


@dataclass(frozen=True)
class SubmitRules:
    max_age: dt.timedelta
    per_day: int
    per_day_new_account: int

    @classmethod
    def from_settings(cls, settings: Any) -> SubmitRules:
        return cls(max_age=dt.timedelta(days=settings.submit_max_age_days),
                   per_day=settings.submit_per_day,
                   per_day_new_account=settings.submit_per_day_new_account)


class Refused(Exception):
    """A submission that cannot be taken: ``message`` says why; ``status`` is the HTTP answer;
    ``featured`` names the paper when it is already featured; ``retry_after`` (seconds) when
    waiting helps."""

    def __init__(self, message: str, *, status: int = 400, featured: str | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.featured = featured
        self.retry_after = retry_after

    @property
    def link(self) -> str | None:
        return f"/papers/{self.featured}" if self.featured else None


class ArxivUnavailable(Exception):
    """arXiv did not answer (after the retry): nothing was stored."""


@dataclass(frozen=True)
class Accepted:
    paper_id: str
    title: str
    day: dt.date
    submission_id: int
    fetched: bool  # the paper came from arXiv just now


# --- checks ----------------------------------------------------------------------------------


def canonical_id(raw: str) -> str:
    text = (raw or "").strip()
    if not text:
        raise Refused("Give an arXiv identifier (2502.06628) or its URL.")
    if len(text) > MAX_ID_CHARS:
        raise Refused(f"Not an arXiv identifier or URL: longer than {MAX_ID_CHARS} characters.")
    try:
        return split_arxiv_id(text)[0]
    except InvalidArxivId:
        raise Refused(f"Not an arXiv identifier or URL: {text!r}. Examples: 2502.06628, "
                      "https://arxiv.org/abs/2502.06628, cs/0112017.") from None


def clean_note(note: str | None) -> str | None:
    text = (note or "").strip()
    if len(text) > MAX_NOTE_CHARS:
        raise Refused(f"The comment is {len(text)} characters long; at most {MAX_NOTE_CHARS}.")
    return text or None


def allowance(conn: Connection, user_id: int, now: dt.datetime, rules: SubmitRules) -> int:
    """How many papers this account may submit per UTC day."""
    created = conn.execute(sa.select(users.c.created_at).where(users.c.id == user_id)).scalar_one()
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.timezone.utc)
    young = now - created < dt.timedelta(days=NEW_ACCOUNT_DAYS)
    return rules.per_day_new_account if young else rules.per_day


def submitted_today(conn: Connection, user_id: int, day: dt.date) -> int:
    return conn.execute(
        sa.select(sa.func.count()).select_from(submissions)
        .where(submissions.c.user_id == user_id, submissions.c.day == day)
    ).scalar_one()


def _check_allowance(conn: Connection, user_id: int, now: dt.datetime, rules: SubmitRules) -> None:
    limit = allowance(conn, user_id, now, rules)
    if submitted_today(conn, user_id, now.date()) >= limit:
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(),
                                       tzinfo=dt.timezone.utc)
        young = limit == rules.per_day_new_account and limit != rules.per_day
        why = (f" (accounts younger than {NEW_ACCOUNT_DAYS} days: {limit})" if young else "")
        raise Refused(f"You have submitted {limit} paper{'s' if limit != 1 else ''} today, the "
                      f"most an account may per UTC day{why}. Try again after midnight UTC.",
                      status=429, retry_after=max(1, int((midnight - now).total_seconds())))


def _check_not_featured(conn: Connection, paper_id: str) -> None:
    day = conn.execute(
        sa.select(feature_days.c.day).where(feature_days.c.paper_id == paper_id)
        .order_by(feature_days.c.day).limit(1)
    ).scalar()
    if day is not None:
        raise Refused(f"Paper {paper_id} is already featured (on {day.isoformat()}).",
                      status=409, featured=paper_id)


def first_version_at(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def check_age(paper_id: str, first_version: str | None, now: dt.datetime,
              rules: SubmitRules) -> None:
    when = first_version_at(first_version)
    if when is None:
        raise Refused(f"arXiv does not say when {paper_id} first appeared, so it cannot be "
                      "submitted.", status=422)
    if now - when > rules.max_age:
        days = rules.max_age / dt.timedelta(days=1)
        raise Refused(f"Paper {paper_id} first appeared on arXiv on {when.date().isoformat()}: "
                      f"only papers whose first version is at most {days:g} days old can be "
                      "submitted.", status=422)


def precheck(conn: Connection, user_id: int, paper_id: str, now: dt.datetime,
             rules: SubmitRules) -> dict[str, Any] | None:
    """Every refusal that needs no arXiv answer; the stored paper row (None: fetch it)."""
    _check_allowance(conn, user_id, now, rules)
    _check_not_featured(conn, paper_id)
    row = conn.execute(sa.select(papers).where(papers.c.id == paper_id)).mappings().first()
    if row is None:
        return None
    check_age(paper_id, row["submitted_at"] or row["hf_published_at"], now, rules)
    return dict(row)


# --- the arXiv API ---------------------------------------------------------------------------


def fetch_from_arxiv(client: Any, api_url: str, paper_id: str) -> ParsedItem:
    """The paper as arXiv's API describes it (``client``: a ``sync.http.PoliteClient``).

    Raises ArxivUnavailable when arXiv does not answer, Refused when it does not know the id."""
    from dailypapers.ingest import arxiv_atom
    from dailypapers.sync.http import Stopped, UpstreamError, decode_xml

    try:
        with _ARXIV_TURN:
            fetched = client.get(api_url, decode_xml,
                                 params={"id_list": paper_id, "max_results": 1})
    except (UpstreamError, Stopped) as exc:
        raise ArxivUnavailable(str(exc)) from None
    found: list[ParsedItem] = []
    problems: list[str] = []
    for parsed in arxiv_atom.parse(io.BytesIO(fetched.response.content),
                                   file_label=f"arxiv-api:id_list={paper_id}"):
        if isinstance(parsed, Refusal):
            problems.append(parsed.reason)
        elif parsed.paper.arxiv_id == paper_id:
            found.append(parsed)
    if not found:
        detail = f" ({problems[0]})" if problems else ""
        raise Refused(f"arXiv has no paper {paper_id}{detail}.", status=422)
    return found[0]


# --- storing ---------------------------------------------------------------------------------


def _lock_user(conn: Connection, user_id: int) -> None:
    """Serialise one account's submissions (PostgreSQL: a row lock; SQLite has one writer), so
    two at once cannot both pass the daily allowance."""
    suspended = conn.execute(sa.select(users.c.suspended_at).where(users.c.id == user_id)
                             .with_for_update()).scalar_one()
    if suspended is not None:  # suspended since the request signed in
        raise Refused("This account is suspended.", status=403)


def add_to_today(conn: Connection, user: User, paper_id: str, note: str | None,
                 now: dt.datetime, rules: SubmitRules, trending: TrendingParams) -> int:
    """Put a stored paper on today's list for ``user``; re-checks what may have changed since
    :func:`precheck` (this account's count, another submission of the paper). Returns the
    submission's id."""
    _lock_user(conn, user.id)
    _check_allowance(conn, user.id, now, rules)
    _check_not_featured(conn, paper_id)
    day = now.date()
    stamp = now.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{now.microsecond // 1000:03d}Z"  # Hugging Face's submittedOnDailyAt form
    stamped = db_now(conn)  # the row clock the indexes' watermarks compare (db/engine.py)
    conn.execute(feature_days.insert().values(
        paper_id=paper_id, day=day, source=LOCAL_SOURCE, upvotes=0, num_comments=0,
        submitted_on_daily_at=stamp, submitter_name=user.username,
        submitter={"username": user.username, "fullname": user.username, "type": "user"},
        submitter_user_id=user.id, is_demo=False, first_seen_at=stamped, row_updated_at=stamped,
    ))
    # A paper someone here chose is nobody's sample: `demo remove` must keep it.
    conn.execute(papers.update().where(papers.c.id == paper_id, papers.c.is_demo.is_(True))
                 .values(is_demo=False))
    refresh_scores(conn, [paper_id], trending)
    return int(conn.execute(submissions.insert().values(
        user_id=user.id, paper_id=paper_id, day=day, note=note, created_at=now,
    )).inserted_primary_key[0])


def submit_paper(engine: Engine, settings: Any, user: User, raw_id: str, note: str | None,
                 now: dt.datetime, client_factory: Any,
                 also: Callable[[Connection], None] | None = None) -> Accepted:
    """The whole submission (see the module's doc): check, fetch when needed, store, list.

    ``client_factory()`` gives the polite client for arXiv (only called when a fetch is due);
    ``also(conn)`` runs in the transaction that lists the paper (the API stamps its token)."""
    rules = SubmitRules.from_settings(settings)
    trending = TrendingParams.from_settings(settings)
    paper_id = canonical_id(raw_id)
    note = clean_note(note)
    with read_transaction(engine) as conn:
        paper = precheck(conn, user.id, paper_id, now, rules)
    if paper is not None:
        try:
            with write_transaction(engine) as conn:
                sid = add_to_today(conn, user, paper_id, note, now, rules, trending)
                if also:
                    also(conn)
        except sa.exc.IntegrityError:
            raise _just_taken(paper_id) from None
        return Accepted(paper_id, paper["title"], now.date(), sid, fetched=False)

    # A running or failed run shows nowhere public ("Data last updated" reads the ok ones).
    with write_transaction(engine, changes=None) as conn:
        run_id = start_run(conn, RUN_SOURCE, detail=f"{paper_id} by {user.username}")
    try:
        item = fetch_from_arxiv(client_factory(), settings.arxiv_api_url, paper_id)
        check_age(paper_id, item.paper.submitted_at, now, rules)
    except ArxivUnavailable as exc:
        with write_transaction(engine, changes=None) as conn:
            finish_run(conn, run_id, status="failed", error=str(exc)[:2000])
        raise
    except Refused as exc:
        _refused_run(engine, run_id, paper_id, exc.message)
        raise
    except BaseException as exc:
        with write_transaction(engine, changes=None) as conn:
            finish_run(conn, run_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    try:
        with write_transaction(engine) as conn:
            counts = store_items(conn, [item], limits=RecordLimits.from_settings(settings),
                                 trending=trending)
            if counts.total == 0:
                reason = counts.refusal_list[0].reason if counts.refusal_list else "refused"
                raise Refused(f"arXiv's record of {paper_id} cannot be stored: {reason}",
                              status=422)
            record_progress(conn, run_id, counts)
            finish_run(conn, run_id, status="ok")
            sid = add_to_today(conn, user, paper_id, note, now, rules, trending)
            if also:
                also(conn)
    except Refused as exc:
        _refused_run(engine, run_id, paper_id, exc.message)
        raise
    except BaseException as exc:
        with write_transaction(engine, changes=None) as conn:
            finish_run(conn, run_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:2000])
        if isinstance(exc, sa.exc.IntegrityError):  # another submission of it won the race
            raise _just_taken(paper_id) from None
        raise
    return Accepted(paper_id, item.paper.title or paper_id, now.date(), sid, fetched=True)


def _just_taken(paper_id: str) -> Refused:
    return Refused(f"Paper {paper_id} was just submitted by someone else.", status=409,
                   featured=paper_id)


def _refused_run(engine: Engine, run_id: int, paper_id: str, reason: str) -> None:
    """The run did its work and refused the paper: ``ok``, with the refusal on record."""
    counts = Counts(refused=1, refusal_list=[Refusal(reason=reason, record_id=paper_id)])
    with write_transaction(engine) as conn:  # an ok run moves "Data last updated": counts
        record_progress(conn, run_id, counts)
        finish_run(conn, run_id, status="ok")


# --- reading ---------------------------------------------------------------------------------


def submissions_of(conn: Connection, user_id: int, *, limit: int, offset: int
                   ) -> tuple[int, list[dict[str, Any]]]:
    """(how many in all, one page newest first): each with ``paper_id``, ``title``, ``day``,
    ``note``, ``created_at``."""
    # Papers a moderator hid are neither listed nor counted (catalog.VISIBLE_PAPER).
    total = conn.execute(sa.select(sa.func.count()).select_from(submissions)
                         .join(papers, papers.c.id == submissions.c.paper_id)
                         .where(submissions.c.user_id == user_id, VISIBLE_PAPER)).scalar_one()
    rows = conn.execute(
        sa.select(submissions.c.id, submissions.c.paper_id, submissions.c.day,
                  submissions.c.note, submissions.c.created_at, papers.c.title)
        .join(papers, papers.c.id == submissions.c.paper_id)
        .where(submissions.c.user_id == user_id, VISIBLE_PAPER)
        .order_by(submissions.c.created_at.desc(), submissions.c.id.desc())
        .limit(limit).offset(offset)
    ).mappings()
    return total, [dict(r) for r in rows]
