"""Moderation: hiding papers, suspending users, users' flags, and the append-only log.

Every moderator action writes one ``moderation_log`` row (who, what, which target, why, when) in
the same transaction as the change itself, so the public log at /moderation can never miss one.
The log is append-only: this module only ever inserts into it, and nothing in the package updates
or deletes its rows (tests/test_moderation.py walks every route to check).

Moderators are users with ``is_moderator`` or ``is_admin``. A moderator may suspend ordinary
users; suspending another moderator or an administrator takes an administrator, and nobody
suspends themselves (a slip would lock the last moderator out).

Flags: any signed-in user may flag a paper or a user once while that flag is open (a partial
unique index on ``flags``); a moderator's queue groups the open flags by target, and the action
taken on a target (dismiss, hide, suspend) resolves all of them.

Functions take a connection of the caller's transaction and never commit. A refusal the person
can act on is a :class:`ModerationError` with the HTTP status the routes answer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dailypapers.community import comments as comments_service
from dailypapers.community.sessions import end_all_sessions
from dailypapers.community.users import User
from dailypapers.db.engine import db_now
from dailypapers.db.schema import comments, flags, moderation_log, papers, users
from dailypapers.rank.trending import TrendingParams

MAX_REASON_CHARS = 500
MAX_DETAIL_CHARS = 1000
TARGET_TYPES = ("paper", "user", "comment")
# What a flag may say, with the words the form shows.
FLAG_REASONS = {
    "spam": "Spam or advertising",
    "off_topic": "Not a research paper / off-topic",
    "abuse": "Abusive, hateful or harassing",
    "illegal": "Illegal content or a rights violation",
    "other": "Something else (say what below)",
}
ACTIONS = {
    "hide_paper": "hid paper", "unhide_paper": "unhid paper",
    "suspend_user": "suspended user", "unsuspend_user": "unsuspended user",
    "hide_comment": "hid comment", "unhide_comment": "unhid comment",
    "lock_thread": "locked the comments of paper", "unlock_thread": "unlocked the comments of paper",
    "dismiss_flags": "dismissed the flags on",
}
LOG_PAGE_SIZE = 50
QUEUE_LIMIT = 200  # targets per queue page: the oldest open ones first


class ModerationError(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def is_moderator(user: User | None) -> bool:
    return user is not None and (user.is_moderator or user.is_admin)


def require_moderator(user: User) -> None:
    if not is_moderator(user):
        raise ModerationError("moderators only", 403)


def clean_reason(reason: Any) -> str:
    """The reason every action needs: one paragraph of plain text, at most 500 characters."""
    text = " ".join(reason.split()) if isinstance(reason, str) else ""
    if not text:
        raise ModerationError("give a reason: it is shown on the public moderation log")
    if len(text) > MAX_REASON_CHARS:
        raise ModerationError(f"a reason has at most {MAX_REASON_CHARS} characters")
    return text


def _log(conn: Connection, moderator: User, action: str, target_type: str, target_id: str,
         reason: str) -> int:
    """The only write to moderation_log there is: an insert."""
    assert action in ACTIONS
    return conn.execute(moderation_log.insert().values(
        moderator_id=moderator.id, action=action, target_type=target_type,
        target_id=target_id, reason=reason, created_at=db_now(conn),
    ).returning(moderation_log.c.id)).scalar_one()


def _resolve_flags(conn: Connection, moderator: User, target_type: str, target_id: str,
                   resolution: str) -> int:
    return conn.execute(flags.update().where(
        flags.c.target_type == target_type, flags.c.target_id == target_id,
        flags.c.resolved_at.is_(None),
    ).values(resolved_at=db_now(conn), resolved_by=moderator.id,
             resolution=resolution)).rowcount


# --- papers ----------------------------------------------------------------------------------


def _paper_hidden_at(conn: Connection, paper_id: str) -> dt.datetime | None:
    row = conn.execute(sa.select(papers.c.hidden_at).where(papers.c.id == paper_id)).first()
    if row is None:
        raise ModerationError(f"no paper {paper_id}", 404)
    return row.hidden_at


def hide_paper(conn: Connection, moderator: User, paper_id: str, reason: Any) -> None:
    """Take the paper out of every list, search and API (catalog.VISIBLE_PAPER)."""
    require_moderator(moderator)
    reason = clean_reason(reason)
    hidden_at = _paper_hidden_at(conn, paper_id)
    if hidden_at is not None:
        raise ModerationError(f"paper {paper_id} is hidden already", 409)
    # Not row_updated_at: hiding changes no text, so the embedder must not redo the paper.
    conn.execute(papers.update().where(papers.c.id == paper_id)
                 .values(hidden_at=db_now(conn)))
    _resolve_flags(conn, moderator, "paper", paper_id, "hidden")
    _log(conn, moderator, "hide_paper", "paper", paper_id, reason)


def unhide_paper(conn: Connection, moderator: User, paper_id: str, reason: Any) -> None:
    require_moderator(moderator)
    reason = clean_reason(reason)
    hidden_at = _paper_hidden_at(conn, paper_id)
    if hidden_at is None:
        raise ModerationError(f"paper {paper_id} is not hidden", 409)
    conn.execute(papers.update().where(papers.c.id == paper_id).values(hidden_at=None))
    _log(conn, moderator, "unhide_paper", "paper", paper_id, reason)


# --- comments and threads ---------------------------------------------------------------------


def _comment_id(value: Any) -> int:
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and 0 < int(text) < 2**31):
        raise ModerationError(f"no comment {text[:20]!r}", 404)
    return int(text)


def hide_comment(conn: Connection, moderator: User, comment_id: Any, reason: Any,
                 params: TrendingParams) -> str:
    """The comment keeps its place as "[removed by a moderator]"; the paper's id."""
    return _set_comment_hidden(conn, moderator, comment_id, reason, params, True)


def unhide_comment(conn: Connection, moderator: User, comment_id: Any, reason: Any,
                   params: TrendingParams) -> str:
    return _set_comment_hidden(conn, moderator, comment_id, reason, params, False)


def _set_comment_hidden(conn: Connection, moderator: User, comment_id: Any, reason: Any,
                        params: TrendingParams, hidden: bool) -> str:
    require_moderator(moderator)
    reason = clean_reason(reason)
    cid = _comment_id(comment_id)
    try:
        paper_id = comments_service.set_hidden(conn, cid, hidden, params)
    except comments_service.UnknownComment:
        raise ModerationError(f"no comment {cid}", 404) from None
    except comments_service.CommentRefused as exc:
        raise ModerationError(str(exc), 409) from None
    if hidden:
        _resolve_flags(conn, moderator, "comment", str(cid), "hidden")
    _log(conn, moderator, "hide_comment" if hidden else "unhide_comment", "comment", str(cid),
         reason)
    return paper_id


def lock_thread(conn: Connection, moderator: User, paper_id: str, reason: Any,
                locked: bool = True) -> None:
    """No new comments, replies or edits on the paper (``locked=False``: open it again)."""
    require_moderator(moderator)
    reason = clean_reason(reason)
    try:
        comments_service.set_thread_locked(conn, paper_id, locked)
    except comments_service.UnknownPaper:
        raise ModerationError(f"no paper {paper_id}", 404) from None
    except comments_service.CommentRefused as exc:
        raise ModerationError(str(exc), 409) from None
    _log(conn, moderator, "lock_thread" if locked else "unlock_thread", "paper", paper_id,
         reason)


# --- users -----------------------------------------------------------------------------------


def find_user(conn: Connection, username: str) -> Any:
    if not isinstance(username, str) or not 0 < len(username) <= 64:
        raise ModerationError(f"no user {str(username)[:64]!r}", 404)
    row = conn.execute(sa.select(users).where(users.c.username_key == username.lower())).first()
    if row is None:
        raise ModerationError(f"no user {username!r}", 404)
    return row


def suspend_user(conn: Connection, moderator: User, username: str, reason: Any) -> None:
    """The user can no longer sign in; their sessions end now and their API tokens stop working
    (sessions.py refuses a suspended user's), so nothing more is voted, flagged or posted."""
    require_moderator(moderator)
    reason = clean_reason(reason)
    row = find_user(conn, username)
    if row.id == moderator.id:
        raise ModerationError("you cannot suspend yourself", 409)
    if (row.is_admin or row.is_moderator) and not moderator.is_admin:
        raise ModerationError("only an administrator can suspend a moderator or administrator",
                              403)
    if row.suspended_at is not None:
        raise ModerationError(f"{row.username} is suspended already", 409)
    conn.execute(users.update().where(users.c.id == row.id).values(suspended_at=db_now(conn)))
    end_all_sessions(conn, row.id)
    _resolve_flags(conn, moderator, "user", str(row.id), "suspended")
    _log(conn, moderator, "suspend_user", "user", str(row.id), reason)


def unsuspend_user(conn: Connection, moderator: User, username: str, reason: Any) -> None:
    require_moderator(moderator)
    reason = clean_reason(reason)
    row = find_user(conn, username)
    if row.suspended_at is None:
        raise ModerationError(f"{row.username} is not suspended", 409)
    conn.execute(users.update().where(users.c.id == row.id).values(suspended_at=None))
    _log(conn, moderator, "unsuspend_user", "user", str(row.id), reason)


def set_moderator(conn: Connection, username: str, on: bool) -> bool:
    """Grant or revoke the moderator role (the CLI's ``user moderator``); False: no change."""
    row = find_user(conn, username)
    if bool(row.is_moderator) == on:
        return False
    conn.execute(users.update().where(users.c.id == row.id).values(is_moderator=on))
    return True


# --- flags -----------------------------------------------------------------------------------


def target_key(conn: Connection, target_type: Any, target_id: Any) -> str:
    """The stored id of an existing target: a paper's arXiv id, a user's numeric id (flags
    name users by username; the row keeps the id, which a rename would not change)."""
    if target_type not in TARGET_TYPES:
        raise ModerationError(f"target_type must be one of {', '.join(TARGET_TYPES)}")
    if not isinstance(target_id, str) or not 0 < len(target_id) <= 64:
        raise ModerationError("target_id: a paper's arXiv id, a comment's id or a username", 404)
    if target_type == "paper":
        found = conn.execute(sa.select(papers.c.id).where(
            papers.c.id == target_id, papers.c.hidden_at.is_(None))).scalar()
        if found is None:
            raise ModerationError(f"no paper {target_id}", 404)
        return found
    if target_type == "comment":
        cid = _comment_id(target_id)
        found = conn.execute(sa.select(comments.c.id).where(
            comments.c.id == cid, comments.c.hidden_at.is_(None),
            comments.c.deleted_at.is_(None))).scalar()
        if found is None:
            raise ModerationError(f"no comment {cid}", 404)
        return str(found)
    return str(find_user(conn, target_id).id)


def flag(conn: Connection, user: User, target_type: Any, target_id: Any, reason: Any,
         detail: Any = "") -> int:
    """A new open flag by ``user``; refused when they have one open on the target already."""
    if reason not in FLAG_REASONS:
        raise ModerationError(f"reason must be one of {', '.join(FLAG_REASONS)}")
    detail = " ".join(detail.split()) if isinstance(detail, str) else ""
    if len(detail) > MAX_DETAIL_CHARS:
        raise ModerationError(f"the details have at most {MAX_DETAIL_CHARS} characters")
    key = target_key(conn, target_type, target_id)
    if target_type == "user" and key == str(user.id):
        raise ModerationError("you cannot flag yourself", 409)
    try:
        with conn.begin_nested():  # a race on the unique index must not abort the request
            return conn.execute(flags.insert().values(
                user_id=user.id, target_type=target_type, target_id=key, reason=reason,
                detail=detail, created_at=db_now(conn),
            ).returning(flags.c.id)).scalar_one()
    except sa.exc.IntegrityError:
        raise ModerationError("you have flagged this already; a moderator will look at it",
                              409) from None


def dismiss_flags(conn: Connection, moderator: User, target_type: Any, target_id: Any,
                  reason: Any) -> int:
    """Close the open flags on a target without acting on it; how many were open."""
    require_moderator(moderator)
    reason = clean_reason(reason)
    if target_type not in TARGET_TYPES or not isinstance(target_id, str) or len(target_id) > 64:
        raise ModerationError("no open flags on this target", 404)
    closed = _resolve_flags(conn, moderator, target_type, target_id, "dismissed")
    if not closed:
        raise ModerationError("no open flags on this target", 404)
    _log(conn, moderator, "dismiss_flags", target_type, target_id, reason)
    return closed


@dataclasses.dataclass
class QueueItem:
    target_type: str
    target_id: str
    label: str  # the paper's title or the username
    name: str  # what the action forms take: the arXiv id or the username
    state: str  # "" | "hidden" | "suspended" | "gone"
    count: int
    first_at: dt.datetime
    reasons: dict[str, int]
    details: list[tuple[str, str]]  # (flagger's username, their text), newest first


def open_queue(conn: Connection, limit: int = QUEUE_LIMIT) -> list[QueueItem]:
    """Open flags grouped by target, the target waiting longest first (three queries)."""
    groups = conn.execute(
        sa.select(flags.c.target_type, flags.c.target_id, sa.func.count().label("n"),
                  sa.func.min(flags.c.created_at).label("first_at"))
        .where(flags.c.resolved_at.is_(None))
        .group_by(flags.c.target_type, flags.c.target_id)
        .order_by(sa.func.min(flags.c.created_at), flags.c.target_type, flags.c.target_id)
        .limit(limit)
    ).all()
    keys = [(g.target_type, g.target_id) for g in groups]
    if not keys:
        return []
    described = describe_targets(conn, keys)
    items = {key: QueueItem(g.target_type, g.target_id, *described[key], g.n, g.first_at,
                            {}, []) for key, g in zip(keys, groups)}
    rows = conn.execute(
        sa.select(flags.c.target_type, flags.c.target_id, flags.c.reason, flags.c.detail,
                  users.c.username)
        .join(users, users.c.id == flags.c.user_id)
        .where(flags.c.resolved_at.is_(None),
               sa.tuple_(flags.c.target_type, flags.c.target_id).in_(keys))
        .order_by(flags.c.id.desc())
    ).all()
    for row in rows:
        item = items[(row.target_type, row.target_id)]
        item.reasons[row.reason] = item.reasons.get(row.reason, 0) + 1
        if row.detail:
            item.details.append((row.username, row.detail))
    return list(items.values())


def open_flag_count(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(flags)
                        .where(flags.c.resolved_at.is_(None))).scalar_one()


def describe_targets(conn: Connection, keys: list[tuple[str, str]]
                     ) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(label, name for links and forms, state) of log or queue targets: one query per kind."""
    paper_ids = {tid for kind, tid in keys if kind == "paper"}
    user_ids = {int(tid) for kind, tid in keys if kind == "user" and tid.isdigit()}
    comment_ids = {int(tid) for kind, tid in keys
                   if kind == "comment" and tid.isdigit() and len(tid) <= 10}
    found: dict[tuple[str, str], tuple[str, str, str]] = {}
    if paper_ids:
        for row in conn.execute(sa.select(papers.c.id, papers.c.title, papers.c.hidden_at)
                                .where(papers.c.id.in_(paper_ids))):
            found[("paper", row.id)] = (row.title or row.id, row.id,
                                        "hidden" if row.hidden_at else "")
    if user_ids:
        for row in conn.execute(sa.select(users.c.id, users.c.username, users.c.suspended_at)
                                .where(users.c.id.in_(user_ids))):
            found[("user", str(row.id))] = (row.username, row.username,
                                            "suspended" if row.suspended_at else "")
    if comment_ids:
        for row in conn.execute(
                sa.select(comments.c.id, comments.c.paper_id, comments.c.body,
                          comments.c.hidden_at, comments.c.deleted_at, users.c.username)
                .outerjoin(users, users.c.id == comments.c.user_id)
                .where(comments.c.id.in_(comment_ids))):
            excerpt = " ".join(row.body.split())[:120]
            state = "hidden" if row.hidden_at else "deleted" if row.deleted_at else ""
            # The label names the paper (for the link) and quotes the text for moderators.
            found[("comment", str(row.id))] = (
                f"{row.username or '[gone]'} on {row.paper_id}: {excerpt}", row.paper_id, state)
    return {key: found.get(key, (key[1], key[1], "gone")) for key in keys}


def describe_target(conn: Connection, target_type: str, target_id: str) -> tuple[str, str, str]:
    return describe_targets(conn, [(target_type, target_id)])[(target_type, target_id)]


# --- the public log --------------------------------------------------------------------------


@dataclasses.dataclass
class LogEntry:
    id: int
    created_at: dt.datetime
    moderator: str
    action: str
    target_type: str
    target_id: str
    target_label: str
    target_name: str
    reason: str

    @property
    def verb(self) -> str:
        return ACTIONS.get(self.action, self.action)


def log_entries(conn: Connection, offset: int = 0, limit: int = LOG_PAGE_SIZE
                ) -> tuple[list[LogEntry], int]:
    """One page of the log, newest first, and how many entries there are."""
    total = conn.execute(sa.select(sa.func.count()).select_from(moderation_log)).scalar_one()
    rows = conn.execute(
        sa.select(moderation_log, users.c.username)
        .join(users, users.c.id == moderation_log.c.moderator_id)
        .order_by(moderation_log.c.id.desc()).limit(limit).offset(offset)
    ).all()
    described = describe_targets(conn, [(row.target_type, row.target_id) for row in rows])
    out = []
    for row in rows:
        label, name, _state = described[(row.target_type, row.target_id)]
        out.append(LogEntry(row.id, row.created_at, row.username, row.action, row.target_type,
                            row.target_id, label, name, row.reason))
    return out, total
