"""Accounts, rate limits, collections, submissions, comments, votes, and trending."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from dailypapers.settings_groups import refused


class AccountSettings(BaseSettings):
    # Accounts (dailypapers/community/).
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="Signs CSRF tokens and links; default (SQLite only): made once into "
        "<data_dir>/secret_key. Required on PostgreSQL",
    )
    secret_key_previous: SecretStr = Field(
        default=SecretStr(""),
        description="Earlier secret keys, comma-separated, that still verify signed links (mails "
        "sent before a key rotation); new links are signed with DAILYPAPERS_SECRET_KEY",
    )
    session_days: float = Field(
        default=30.0, gt=0, description="A sign-in lasts this many days (then sign in again)"
    )

    password_reset_minutes: float = Field(
        default=60.0, gt=0, description="A password reset link works this long (and once)"
    )

    subscribe_confirm_hours: float = Field(
        default=72.0, gt=0, description="A digest subscription's confirmation link works this long"
    )

    @field_validator("secret_key_previous")
    @classmethod
    def _previous_keys(cls, value: SecretStr) -> SecretStr:
        if any(0 < len(k.strip()) < 32 for k in value.get_secret_value().split(",")):
            raise ValueError("every key must be at least 32 characters (comma-separated)")
        return value


class CommunitySettings(BaseSettings):
    # Rate limits (dailypapers/community/ratelimit.py): `limits` notation, several joined by ";".
    ratelimit_storage: str = Field(
        default="memory://",
        description="Where the limiter counts: memory:// (this process) or redis://host:port "
        "(shared by every process)",
    )
    ratelimit_signin_per_ip: str = Field(
        default="20/minute;200/hour", description="Sign-in attempts per client address"
    )
    ratelimit_signin_per_account: str = Field(
        default="5/minute;30/hour", description="Failed sign-ins per username or e-mail address"
    )
    ratelimit_signup_per_ip: str = Field(
        default="10/hour;30/day", description="New accounts per client address"
    )
    ratelimit_reset_per_ip: str = Field(
        default="10/hour", description="Password reset requests per client address"
    )
    ratelimit_reset_per_account: str = Field(
        default="3/hour", description="Password reset mails per account"
    )
    ratelimit_flag_per_ip: str = Field(
        default="30/hour", description="Flags (reports to moderators) per client address"
    )
    ratelimit_flag_per_user: str = Field(
        default="10/hour;50/day", description="Flags (reports to moderators) per account"
    )
    ratelimit_collections_per_user: str = Field(
        default="60/minute;600/hour",
        description="Collection changes (create, edit, delete, add or remove a paper) per account",
    )

    # Collections (dailypapers/community/collections.py).
    collections_max_per_user: int = Field(
        default=100, ge=1, description="Collections one account may keep"
    )
    collection_max_papers: int = Field(
        default=1000, ge=1, description="Papers one collection may hold"
    )
    ratelimit_submit_per_ip: str = Field(
        default="30/hour", description="Paper submissions (accepted or refused) per client address"
    )
    ratelimit_submit_per_user: str = Field(
        default="10/minute;30/hour", description="Paper submissions (accepted or refused) per account"
    )

    # Submissions (dailypapers/community/submissions.py).
    submit_max_age_days: float = Field(
        default=14.0, gt=0, description="A paper can be submitted while its first arXiv version "
        "is at most this many days old",
    )
    submit_per_day: int = Field(
        default=5, ge=0, description="Papers one account may submit per (UTC) day",
    )
    submit_per_day_new_account: int = Field(
        default=1, ge=0, description="Papers per day for an account younger than a week",
    )
    ratelimit_comment_per_user: str = Field(
        default="5/minute;100/day", description="New comments per account"
    )
    ratelimit_comment_per_ip: str = Field(
        default="20/minute;300/day", description="New comments per client address"
    )

    # Comments (dailypapers/community/comments.py).
    comment_max_chars: int = Field(
        default=10_000, ge=1, le=1_000_000, description="A comment is at most this many characters"
    )
    comment_max_depth: int = Field(
        default=8, ge=1, le=64, description="Levels of a thread: 1 allows no replies"
    )
    ratelimit_vote_per_ip: str = Field(
        default="120/minute;2000/hour", description="Votes and unvotes per client address"
    )
    ratelimit_vote_per_user: str = Field(
        default="30/minute;500/hour", description="Votes and unvotes per account"
    )
    vote_synchronous_commit: bool = Field(
        default=True,
        description="On PostgreSQL, whether a vote's commit waits until its WAL is on disk "
        "(false: the vote is answered sooner; a crash of the database server itself may lose "
        "the votes of its last fraction of a second, each whole, with its count)",
    )
    ratelimit_subscribe_per_ip: str = Field(
        default="20/hour;100/day", description="Digest subscription requests per client address"
    )
    ratelimit_subscribe_per_address: str = Field(
        default="3/hour;6/day",
        description="Subscription confirmation mails per e-mail address (past it: no mail)",
    )

    @field_validator("ratelimit_signin_per_ip", "ratelimit_signin_per_account",
                     "ratelimit_signup_per_ip", "ratelimit_reset_per_ip",
                     "ratelimit_reset_per_account", "ratelimit_collections_per_user",
                     "ratelimit_submit_per_ip", "ratelimit_submit_per_user",
                     "ratelimit_comment_per_user", "ratelimit_comment_per_ip",
                     "ratelimit_flag_per_ip", "ratelimit_flag_per_user",
                     "ratelimit_vote_per_ip", "ratelimit_vote_per_user",
                     "ratelimit_subscribe_per_ip", "ratelimit_subscribe_per_address")
    @classmethod
    def _rate_limit_notation(cls, value: str, info: Any) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise refused(info, "must be limits such as '5/minute;30/hour'", value) from None
        return value

    @field_validator("ratelimit_storage")
    @classmethod
    def _limiter_storage(cls, value: str, info: Any) -> str:
        scheme = value.split("://", 1)[0]
        if "://" not in value or scheme not in ("memory", "redis", "rediss", "redis+unix"):
            raise refused(info, "must be memory:// or redis://host:port", value)
        return value


class TrendingSettings(BaseSettings):
    # Trending (dailypapers/rank/trending.py); `dailypapers db recount` applies a change.
    trending_tau_hours: float = Field(
        default=48.0, gt=0, description="Trending: this many hours of recency are worth ten "
        "times the points",
    )
    trending_comment_cap: int = Field(
        default=10, ge=0, description="Trending: comments count as points up to this many",
    )
