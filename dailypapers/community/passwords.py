"""Passwords: argon2id hashes and the rules a new password must pass.

argon2-cffi's defaults (argon2id, RFC 9106's second recommendation: 3 passes over 64 MiB, 4
lanes) take about 0.13 s on the 2-core development machine (measured while other work ran); a
stored hash made with weaker parameters is re-hashed at the next sign-in (``needs_rehash``).
Passwords are hashed whole (argon2 takes any length, unlike bcrypt's 72 bytes): nothing is
truncated. Rules: at least 8 characters, at most ``MAX_PASSWORD_CHARS`` (a bound on the work one
request can ask for), not one of the common passwords in ``common_passwords.txt.gz`` (see
``common_passwords.NOTICE``), not the username.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
COMMON_PASSWORDS = Path(__file__).resolve().parent / "common_passwords.txt.gz"

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106) defaults
# Verified against when a name is unknown, so "no such user" takes as long as "wrong password".
_DUMMY_HASH = _hasher.hash("not a password anyone has: timing equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


@functools.cache
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle if line.strip())


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` cannot be used, or None."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"the password must have at least {MIN_PASSWORD_CHARS} characters"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"the password may have at most {MAX_PASSWORD_CHARS} characters"
    if password.lower() in common_passwords():
        return "this password is on a list of commonly used passwords: choose another"
    if username and password.lower() == username.lower():
        return "the password must not be the username"
    return None
