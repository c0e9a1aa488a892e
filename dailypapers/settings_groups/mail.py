"""Mail and the digests' delivery and schedule."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from dailypapers.settings_groups import one_of, refused

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class MailSettings(BaseSettings):
    # Mail (dailypapers/notify/mail.py).
    mail_backend: str = Field(default="file", description="smtp, file or console")
    mail_from: str = Field(
        default="Daily Papers <dailypapers@localhost>", description="Sender of every mail"
    )
    mail_bounce_address: str = Field(
        default="", description="Digest mails' envelope sender, made per mail as "
        "local+<signed token>@domain (VERP) so bounces name their subscriber; empty: "
        "DAILYPAPERS_MAIL_FROM",
    )
    mail_file_dir: str = Field(
        default="", description="file backend: where mails are written; empty: <data_dir>/mail"
    )
    mail_smtp_host: str = "localhost"
    mail_smtp_port: int = Field(default=587, ge=1, le=65535)
    mail_smtp_security: str = Field(default="starttls", description="starttls, tls or none")
    mail_smtp_username: str = Field(default="", description="empty: no login")
    mail_smtp_password: SecretStr = SecretStr("")
    mail_smtp_timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("mail_bounce_address")
    @classmethod
    def _bounce_address(cls, value: str) -> str:
        from dailypapers.notify.verp import split_address

        if value.strip():
            try:
                split_address(value)
            except ValueError as exc:
                raise ValueError(f"DAILYPAPERS_MAIL_BOUNCE_ADDRESS: {exc}, got "
                                 f"{value[:100]!r}") from None
        return value.strip()

    @field_validator("mail_backend")
    @classmethod
    def _mail_backend(cls, value: str, info: Any) -> str:
        return one_of(info, value, ("smtp", "file", "console"))

    @field_validator("mail_smtp_security")
    @classmethod
    def _smtp_security(cls, value: str, info: Any) -> str:
        return one_of(info, value, ("starttls", "tls", "none"))


class DigestSettings(BaseSettings):
    # Digest delivery and schedule (dailypapers/notify/delivery.py, dailypapers/jobs.py).
    digest_time: str = Field(default="07:00", description="Local time (HH:MM) the daily digest "
                             "of the previous feature day goes out")
    digest_timezone: str = Field(default="UTC", description="Time zone of DAILYPAPERS_DIGEST_TIME "
                                 "(an IANA name such as Europe/Paris)")
    digest_weekday: str = Field(default="monday", description="Day the weekly digest of the "
                                "ISO week before goes out, at DAILYPAPERS_DIGEST_TIME")
    digest_rate_per_second: float = Field(default=20.0, ge=0, description="Digest mails per "
                                          "second, all senders and processes together; "
                                          "0: no limit")
    digest_lease_seconds: float = Field(default=300.0, gt=0, description="A sender's claim on a "
                                        "digest mail; one left by a dead sender is retried after it")
    digest_max_attempts: int = Field(default=5, ge=1, description="Attempts per digest mail "
                                     "(temporary 4xx answers, dead senders) before it is failed")
    digest_retry_seconds: float = Field(default=60.0, ge=0, description="Wait before retrying a "
                                        "4xx answer, doubled at each attempt")
    digest_pause_after: int = Field(default=10, ge=1, description="Consecutive failed digest "
                                    "mails that pause every sender")
    digest_pause_seconds: float = Field(default=600.0, ge=0, description="How long that pause "
                                        "lasts")

    @field_validator("digest_time")
    @classmethod
    def _clock_time(cls, value: str, info: Any) -> str:
        try:
            dt.time.fromisoformat(value.strip())
        except ValueError:
            raise refused(info, "must be HH:MM", value, 40) from None
        return value.strip()

    @field_validator("digest_timezone")
    @classmethod
    def _time_zone(cls, value: str, info: Any) -> str:
        try:
            zoneinfo.ZoneInfo(value.strip())
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise refused(info, "must be an IANA time zone such as Europe/Paris", value,
                          60) from None
        return value.strip()

    @field_validator("digest_weekday")
    @classmethod
    def _weekday(cls, value: str, info: Any) -> str:
        day = value.strip().lower()
        if day not in WEEKDAYS:
            raise refused(info, f"must be one of {', '.join(WEEKDAYS)}", value, 40)
        return day
