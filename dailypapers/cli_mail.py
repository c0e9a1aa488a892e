"""`dailypapers digest send`, `mail bounce` and `mail unsuppress`: the mail commands, thin."""

from __future__ import annotations

import sys
from typing import Any

import click

from dailypapers.cli_errors import EXIT_REFUSED
from dailypapers.db.engine import write_transaction
from dailypapers.settings import get_settings


def install(main: click.Group, engine_for: Any) -> None:
    """Add the commands to ``main``; ``engine_for(settings)``: a migrated engine."""

    @main.group()
    def digest() -> None:
        """Digest mails."""

    @digest.command("send")
    @click.option("--period", "kind", type=click.Choice(["daily", "weekly"]), required=True)
    @click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
                  help="The feature day (daily) or a day of the ISO week (weekly); default: the "
                  "latest complete one.")
    def digest_send(kind: str, day: Any) -> None:
        """Build the period's digest if missing and deliver every pending digest mail; running it
        again sends nothing new."""
        from dailypapers.community.secret_key import SecretKeyError
        from dailypapers.notify.delivery import send_digest

        settings = get_settings()
        engine = engine_for(settings)
        try:
            report = send_digest(settings, engine, kind, day.date() if day else None,
                                 log_line=click.echo)
        except SecretKeyError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Digest mails: {report.sent} sent, {report.retried} to retry, "
                   f"{report.failed} failed, {report.skipped} skipped.")
        if report.paused:
            raise click.ClickException(f"senders paused: {report.paused}")

    @main.group()
    def mail() -> None:
        """Mail returned to us."""

    @mail.command("bounce")
    @click.option("--recipient", default=None, metavar="ADDRESS",
                  help="The address the report was delivered to (the mail system's envelope "
                       "recipient, e.g. Postfix pipe's ${recipient}): a VERP address is looked for "
                       "here first, then in X-Original-To, Delivered-To and To.")
    def mail_bounce(recipient: str | None) -> None:
        """Read one bounce (RFC 3464 delivery status notification) or complaint (RFC 5965 ARF
        report) on standard input and apply it: a hard bounce or a complaint stops mail to the
        address, so do two soft bounces within 7 days; a delay warning is only recorded. Exit 0
        when applied; 2 with the reason on one line when the message cannot be read or matches no
        subscription (nothing is changed)."""
        from dailypapers.community.secret_key import (
            SecretKeyError, load_previous_keys, load_secret_key,
        )
        from dailypapers.notify.bounces import (
            MAX_REPORT_BYTES, Unreadable, apply_report, parse_report,
        )

        data = sys.stdin.buffer.read(MAX_REPORT_BYTES + 1)
        settings = get_settings()
        engine = engine_for(settings)
        keys: tuple[bytes, ...] = ()
        if settings.mail_bounce_address:  # VERP tokens to check
            try:
                keys = (load_secret_key(settings),) + load_previous_keys(settings)
            except SecretKeyError as exc:
                raise click.ClickException(str(exc)) from None
        try:
            report = parse_report(data, recipient)
            # Subscriptions and mail events: no anonymous answer shows them.
            with write_transaction(engine, changes=None) as conn:
                line = apply_report(conn, report, bounce_address=settings.mail_bounce_address,
                                    keys=keys)
        except Unreadable as exc:
            click.echo(f"mail bounce: {exc}", err=True)
            sys.exit(EXIT_REFUSED)
        click.echo(line)

    @mail.command("unsuppress")
    @click.argument("address")
    def mail_unsuppress(address: str) -> None:
        """Send to ADDRESS again after a bounce or complaint stopped it: its subscription goes back
        to confirmed, and the soft bounces before count no more. Exit 1 when no subscription has
        the address."""
        from dailypapers.notify.bounces import NotSuppressed, lift

        engine = engine_for(get_settings())
        try:
            with write_transaction(engine, changes=None) as conn:  # a subscription: private
                line = lift(conn, address, "command")
        except NotSuppressed as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(line)
