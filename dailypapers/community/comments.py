"""Comments: threaded, editable and deletable by their author, upvoted, counted on the paper.

A comment's row stays when its author deletes it: the body is emptied and ``deleted_at`` set,
so its replies keep their place under a "[deleted]" line. ``papers.local_comments`` counts the
comments that are not deleted (``rank.stored.counted_comment``) and moves by +1/-1 in the same
transaction as the row, like votes do (community/votes.py: an increment, never a COUNT, so
racing writers on PostgreSQL stay exact), with the counts stamp for the keyword index and the
paper's stored trending scores re-computed (comments count there, capped).

What readers see comes from one query (:func:`visible_comments`): a comment a moderator hid
(``hidden_at``, community/moderation.py) keeps its place as "[removed by a moderator]", its text
never sent, its replies still shown; nobody replies to it, edits it or votes on it. A thread a
moderator locked (``papers.comments_locked_at``) takes no new comments, replies or edits. The thread is built in Python from
that one result, so a page costs one query and time linear in its comments.

Functions take a connection and never commit.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from dailypapers.community.votes import UnknownPaper
from dailypapers.db.engine import db_now
from dailypapers.db.schema import comment_votes, comments, papers, users
from dailypapers.rank.stored import refresh_scores
from dailypapers.rank.trending import TrendingParams
from dailypapers.rank.wilson import wilson_lower_bound

__all__ = [
    "CommentRules", "CommentRefused", "UnknownComment", "NotYours", "UnknownPaper", "Comment",
    "CommentVoteState", "SORTS", "add_comment", "edit_comment", "delete_comment",
    "set_comment_vote", "toggle_comment_vote", "visible_comments", "thread", "comment_paper",
    "get_comment", "ThreadLocked", "set_hidden", "set_thread_locked",
]

Sort = Literal["top", "new"]
SORTS: tuple[Sort, ...] = ("top", "new")


class CommentRefused(ValueError):
    """The comment breaks a rule (empty, too long, too deep, a deleted parent): nothing written."""


class UnknownComment(LookupError):
    """No such comment (or not one readers may see)."""


class ThreadLocked(CommentRefused):
    """A moderator locked the paper's thread: no new comments, replies or edits."""


def _check_unlocked(conn: Connection, paper_id: str) -> None:
    """Refuse a write to a locked thread; a paper a moderator hid is no paper to comment on."""
    row = conn.execute(sa.select(papers.c.comments_locked_at, papers.c.hidden_at)
                       .where(papers.c.id == paper_id)).first()
    if row is None or row.hidden_at is not None:
        raise UnknownPaper(paper_id)
    if row.comments_locked_at is not None:
        raise ThreadLocked("this thread is locked by a moderator: no new comments, replies or "
                           "edits")


class NotYours(PermissionError):
    """Another user's comment: only its author edits or deletes it."""


@dataclasses.dataclass(frozen=True)
class CommentRules:
    max_chars: int = 10_000
    max_depth: int = 8  # levels: depth 0 .. max_depth - 1

    @classmethod
    def from_settings(cls, settings: Any) -> CommentRules:
        return cls(max_chars=settings.comment_max_chars, max_depth=settings.comment_max_depth)


@dataclasses.dataclass
class Comment:
    """One comment as readers see it, with its replies (sorted)."""

    id: int
    paper_id: str
    parent_id: int | None
    user_id: int | None
    author: str | None  # None: the account is gone
    depth: int
    body: str  # "" once deleted
    upvotes: int
    created_at: dt.datetime
    edited_at: dt.datetime | None
    deleted: bool
    voted: bool  # by the viewer
    hidden: bool = False  # by a moderator: shown as "[removed by a moderator]", body ""
    replies: list[Comment] = dataclasses.field(default_factory=list)

    @property
    def score(self) -> float:
        """The Wilson lower bound of its votes (upvotes only: positive = total)."""
        return wilson_lower_bound(self.upvotes, self.upvotes)


@dataclasses.dataclass(frozen=True)
class CommentVoteState:
    comment_id: int
    voted: bool
    changed: bool
    upvotes: int


def _body(body: Any, rules: CommentRules) -> str:
    if not isinstance(body, str):
        raise CommentRefused("body: expected text")
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise CommentRefused("body: a comment needs some text")
    if len(body) > rules.max_chars:
        raise CommentRefused(f"body: {len(body):,} characters, more than the "
                             f"{rules.max_chars:,} a comment may have")
    if "\x00" in body:  # PostgreSQL text cannot hold it
        raise CommentRefused("body: contains a NUL character")
    return body


def _count(conn: Connection, paper_id: str, delta: int, params: TrendingParams) -> None:
    """Move the paper's comment cache and counts stamp, re-score its feature days."""
    found = conn.execute(
        papers.update().where(papers.c.id == paper_id)
        .values(local_comments=papers.c.local_comments + delta, counts_updated_at=db_now(conn))
        .returning(papers.c.id)
    ).first()
    if found is None:
        raise UnknownPaper(paper_id)
    refresh_scores(conn, [paper_id], params)


def _row(conn: Connection, comment_id: int) -> sa.Row:
    row = conn.execute(
        sa.select(comments.c.id, comments.c.paper_id, comments.c.user_id, comments.c.depth,
                  comments.c.deleted_at, comments.c.hidden_at)
        .where(comments.c.id == comment_id)
    ).first()
    if row is None or row.hidden_at is not None:
        raise UnknownComment(comment_id)
    return row


def add_comment(conn: Connection, user_id: int, paper_id: str, body: Any,
                parent_id: int | None, rules: CommentRules, params: TrendingParams) -> int:
    """Store a comment (a reply when ``parent_id``); its id."""
    text = _body(body, rules)
    depth = 0
    if parent_id is not None:
        try:
            parent = _row(conn, parent_id)
        except UnknownComment:
            raise CommentRefused(f"parent: no comment {parent_id} to reply to") from None
        if parent.paper_id != paper_id:
            raise CommentRefused(f"parent: comment {parent_id} is on another paper")
        if parent.deleted_at is not None:
            raise CommentRefused(f"parent: comment {parent_id} was deleted")
        depth = parent.depth + 1
        if depth >= rules.max_depth:
            raise CommentRefused(f"parent: threads go {rules.max_depth} levels deep at most; "
                                 f"reply higher up")
    _check_unlocked(conn, paper_id)
    _count(conn, paper_id, 1, params)  # first: it locks the paper row and checks that it exists
    return conn.execute(
        comments.insert().values(paper_id=paper_id, parent_id=parent_id, user_id=user_id,
                                 depth=depth, body=text, created_at=db_now(conn))
        .returning(comments.c.id)
    ).scalar_one()


def _own(conn: Connection, user_id: int, comment_id: int) -> sa.Row:
    row = _row(conn, comment_id)
    if row.user_id != user_id:
        raise NotYours(comment_id)
    return row


def edit_comment(conn: Connection, user_id: int, comment_id: int, body: Any,
                 rules: CommentRules) -> str:
    """Replace the author's text; the paper's id."""
    text = _body(body, rules)
    row = _own(conn, user_id, comment_id)
    _check_unlocked(conn, row.paper_id)
    changed = conn.execute(
        comments.update()
        .where(comments.c.id == comment_id, comments.c.user_id == user_id,
               comments.c.deleted_at.is_(None))
        .values(body=text, edited_at=db_now(conn))
    ).rowcount
    if not changed:
        raise CommentRefused(f"comment {comment_id} was deleted")
    return row.paper_id


def delete_comment(conn: Connection, user_id: int, comment_id: int,
                   params: TrendingParams) -> str:
    """Empty the author's comment, keeping its place; the paper's id. Deleting twice is a no-op."""
    row = _own(conn, user_id, comment_id)
    changed = conn.execute(
        comments.update()
        .where(comments.c.id == comment_id, comments.c.user_id == user_id,
               comments.c.deleted_at.is_(None))
        .values(body="", deleted_at=db_now(conn))
    ).rowcount
    if changed:  # only the call that really deleted it moves the count
        _count(conn, row.paper_id, -1, params)
    return row.paper_id


def set_hidden(conn: Connection, comment_id: int, hidden: bool,
               params: TrendingParams) -> str:
    """Hide a comment (a moderator's act: it keeps its place, its text is no longer shown) or
    show it again; the paper's id. The paper's count follows (``counted_comment``). Raises
    UnknownComment when there is none, CommentRefused when it is so already."""
    row = conn.execute(sa.select(comments.c.paper_id, comments.c.deleted_at, comments.c.hidden_at)
                       .where(comments.c.id == comment_id)).first()
    if row is None:
        raise UnknownComment(comment_id)
    if (row.hidden_at is not None) == hidden:
        raise CommentRefused(f"comment {comment_id} is {'hidden' if hidden else 'shown'} already")
    changed = conn.execute(
        comments.update().where(comments.c.id == comment_id,
                                comments.c.hidden_at.is_(None) if hidden
                                else comments.c.hidden_at.is_not(None))
        .values(hidden_at=db_now(conn) if hidden else None)).rowcount
    if changed and row.deleted_at is None:  # a deleted comment is not counted either way
        _count(conn, row.paper_id, -1 if hidden else 1, params)
    return row.paper_id


def set_thread_locked(conn: Connection, paper_id: str, locked: bool) -> None:
    """Lock a paper's thread (no new comments, replies or edits) or open it again."""
    row = conn.execute(sa.select(papers.c.comments_locked_at)
                       .where(papers.c.id == paper_id)).first()
    if row is None:
        raise UnknownPaper(paper_id)
    if (row.comments_locked_at is not None) == locked:
        raise CommentRefused(f"the thread of {paper_id} is {'locked' if locked else 'open'} "
                             "already")
    conn.execute(papers.update().where(papers.c.id == paper_id)
                 .values(comments_locked_at=db_now(conn) if locked else None))


def comment_paper(conn: Connection, comment_id: int) -> str:
    """The paper a visible comment is on."""
    return _row(conn, comment_id).paper_id


# --- votes -------------------------------------------------------------------------------------


def _vote_insert(conn: Connection, user_id: int, comment_id: int) -> bool:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(comment_votes).values(
        user_id=user_id, comment_id=comment_id, created_at=db_now(conn),
    ).on_conflict_do_nothing(index_elements=["user_id", "comment_id"]).returning(comment_votes.c.id)
    return conn.execute(stmt).first() is not None


def _vote_delete(conn: Connection, user_id: int, comment_id: int) -> bool:
    return conn.execute(comment_votes.delete().where(
        comment_votes.c.user_id == user_id, comment_votes.c.comment_id == comment_id)
    ).rowcount == 1


def _vote_bump(conn: Connection, comment_id: int, delta: int) -> int:
    return conn.execute(
        comments.update().where(comments.c.id == comment_id)
        .values(upvotes=comments.c.upvotes + delta).returning(comments.c.upvotes)
    ).scalar_one()


def set_comment_vote(conn: Connection, user_id: int, comment_id: int,
                     on: bool) -> CommentVoteState:
    """Make this user's upvote of the comment exist (``on``) or not; repeating changes nothing."""
    row = _row(conn, comment_id)
    if on and row.deleted_at is not None:
        raise CommentRefused(f"comment {comment_id} was deleted")
    changed = _vote_insert(conn, user_id, comment_id) if on else \
        _vote_delete(conn, user_id, comment_id)
    upvotes = _vote_bump(conn, comment_id, 1 if on else -1) if changed else conn.execute(
        sa.select(comments.c.upvotes).where(comments.c.id == comment_id)).scalar_one()
    return CommentVoteState(comment_id, on, changed, upvotes)


def toggle_comment_vote(conn: Connection, user_id: int, comment_id: int) -> CommentVoteState:
    """Take the user's upvote back if it exists, else add it (the page's button)."""
    _row(conn, comment_id)
    if _vote_delete(conn, user_id, comment_id):
        return CommentVoteState(comment_id, False, True, _vote_bump(conn, comment_id, -1))
    return set_comment_vote(conn, user_id, comment_id, True)


# --- reading -----------------------------------------------------------------------------------


def visible_comments(paper_id: str, viewer_id: int | None = None) -> sa.Select:
    """The one query behind every thread: the paper's comments (a hidden one too, which keeps its
    place), each with its author's name and whether ``viewer_id`` upvoted it."""
    source = comments.outerjoin(users, users.c.id == comments.c.user_id)
    voted: sa.ColumnElement[Any] = sa.false()
    if viewer_id is not None:
        source = source.outerjoin(comment_votes, sa.and_(
            comment_votes.c.comment_id == comments.c.id, comment_votes.c.user_id == viewer_id))
        voted = comment_votes.c.id.is_not(None)
    query = sa.select(comments, users.c.username, voted.label("voted"))
    return (query.select_from(source)
            .where(comments.c.paper_id == paper_id)
            .order_by(comments.c.id))


def _node(row: sa.Row) -> Comment:
    created = row.created_at if row.created_at.tzinfo else \
        row.created_at.replace(tzinfo=dt.timezone.utc)
    hidden = row.hidden_at is not None
    return Comment(
        id=row.id, paper_id=row.paper_id, parent_id=row.parent_id, user_id=row.user_id,
        author=None if hidden else row.username, depth=row.depth,
        body="" if hidden else row.body, upvotes=row.upvotes,
        created_at=created, edited_at=row.edited_at, deleted=row.deleted_at is not None,
        voted=bool(row.voted), hidden=hidden,
    )


def get_comment(conn: Connection, paper_id: str, comment_id: int,
                viewer_id: int | None = None) -> Comment:
    """One visible comment (its ``replies`` left empty)."""
    row = conn.execute(visible_comments(paper_id, viewer_id)
                       .where(comments.c.id == comment_id)).first()
    if row is None:
        raise UnknownComment(comment_id)
    return _node(row)


def _sort_key(sort: Sort):  # type: ignore[no-untyped-def]
    if sort == "new":
        return lambda c: (-c.created_at.timestamp(), -c.id)
    # Best first; among equals the older first (it had longer to be voted on).
    return lambda c: (-c.score, c.created_at.timestamp(), c.id)


def thread(conn: Connection, paper_id: str, viewer_id: int | None = None,
           sort: Sort = "top") -> list[Comment]:
    """The paper's top-level comments, replies nested, siblings in ``sort`` order (a hidden
    comment keeps its place, emptied, with its replies)."""
    nodes: dict[int, Comment] = {}
    for row in conn.execute(visible_comments(paper_id, viewer_id)):
        nodes[row.id] = _node(row)
    roots: list[Comment] = []
    for node in nodes.values():  # ids ascending: a parent always comes before its replies
        if node.parent_id is None:
            roots.append(node)
        elif node.parent_id in nodes:
            nodes[node.parent_id].replies.append(node)
    key = _sort_key(sort)
    roots.sort(key=key)
    for node in nodes.values():
        node.replies.sort(key=key)
    return roots
