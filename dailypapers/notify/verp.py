"""VERP: each digest mail's envelope sender (MAIL FROM, the address bounces go back to) names
its outbox row, so a bounce finds its subscriber even when the failed recipient is a forwarding
address and the returned message is cut off before its Message-ID.

With DAILYPAPERS_MAIL_BOUNCE_ADDRESS = ``bounces@papers.example.org`` the mail of outbox row 42
goes out with MAIL FROM ``bounces+16-<signature>@papers.example.org`` (tokens.make_bounce_token:
signed with the secret key, checked against it and every previous key, so a forged bounce cannot
name a stranger's row). Empty (the default): the envelope sender is DAILYPAPERS_MAIL_FROM, as
for every other mail. The relay must deliver ``bounces+anything@`` to the ``bounces`` mailbox
(Postfix: ``recipient_delimiter = +``) and pipe it to ``dailypapers mail bounce``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from email.utils import parseaddr

from dailypapers.notify import tokens

DELIMITER = "+"


class ForgedToken(ValueError):
    """An address to our bounce mailbox whose token does not verify."""


def split_address(bounce_address: str) -> tuple[str, str]:
    """(local part, domain) of the configured address; ValueError when it is not one plain
    ``local@domain`` without the delimiter."""
    address = bounce_address.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or DELIMITER in local or any(
            c.isspace() or c in '<>",;()[]\\' or ord(c) < 33 for c in address) or \
            "@" in local or len(local) > 30:
        raise ValueError("expected a plain address such as bounces@papers.example.org, without "
                         f"'{DELIMITER}', with a local part of at most 30 characters")
    return local, domain


def envelope_sender(bounce_address: str, key: bytes, outbox_id: int) -> str | None:
    """The MAIL FROM of outbox row ``outbox_id``'s mail; None without a bounce address (the
    relay then takes the From header's)."""
    if not bounce_address:
        return None
    local, domain = split_address(bounce_address)
    return f"{local}{DELIMITER}{tokens.make_bounce_token(key, outbox_id)}@{domain}"


def outbox_id_in(candidates: Iterable[str], bounce_address: str,
                 keys: Sequence[bytes]) -> int | None:
    """The outbox row named by the first of ``candidates`` (addresses the bounce was delivered
    to) that is ``local+token@domain`` of the bounce address; None when none is; ForgedToken
    when one is but its token does not verify."""
    if not bounce_address:
        return None
    local, domain = (part.lower() for part in split_address(bounce_address))
    for candidate in candidates:
        address = parseaddr(candidate)[1].strip().lower()
        their_local, at, their_domain = address.rpartition("@")
        if not at or their_domain != domain or \
                not their_local.startswith(local + DELIMITER):
            continue
        row = tokens.read_bounce_token(keys, their_local[len(local) + 1:])
        if row is None:
            raise ForgedToken(f"bounce address {address[:80]!r} carries a token that does not "
                              "verify (forged, or signed with a key no longer configured)")
        return row
    return None
