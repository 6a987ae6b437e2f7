"""Maintainers' API tokens: created once (optionally expiring), stored only as sha256, checked,
revoked."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from classifier import InvalidInput, TokenNotFound

from .tables import MAX_INTEGER, ApiTokenRow, utcnow
from .text import unstorable

TOKEN_PREFIX = "inc_"
# What `tokens list` shows to tell tokens apart: the fixed prefix and a few random characters.
SHOWN_CHARS = len(TOKEN_PREFIX) + 6


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_DURATION = re.compile(r"(\d+)([hdw])")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def token_expiry(*, expires_in: str | None = None, expires: str | None = None,
                 now: datetime | None = None) -> datetime | None:
    """When a token made ``now`` expires: ``expires_in`` a duration (``12h``, ``90d``, ``8w``) or
    ``expires`` a date (``YYYY-MM-DD``, valid to the end of that day, UTC); None for neither."""
    now = now or utcnow()
    if expires_in is not None and expires is not None:
        raise InvalidInput("give --expires-in or --expires, not both", field="expires")
    if expires_in is not None:
        match = _DURATION.fullmatch(expires_in.strip().lower())
        count = match.group(1).lstrip("0") if match else ""
        if match is None:
            raise InvalidInput(f"expires-in: {expires_in[:40]!r} is not a duration such as 12h, "
                               "90d or 8w", field="expires-in")
        if not count:
            raise InvalidInput(f"expires-in: {expires_in[:40]!r} must be more than zero",
                               field="expires-in")
        try:  # past what a datetime holds (the year 9999); ten digits are past any timedelta
            if len(count) > 9:
                raise OverflowError
            return now + int(count) * _UNITS[match.group(2)]
        except OverflowError:
            raise InvalidInput(f"expires-in: {expires_in[:40]!r} is too far ahead; leave "
                               "--expires-in out for a token that does not expire",
                               field="expires-in") from None
    if expires is not None:
        try:
            day = date.fromisoformat(expires.strip())
        except ValueError:
            raise InvalidInput(f"expires: {expires[:40]!r} is not a date YYYY-MM-DD",
                               field="expires") from None
        if day == date.max:  # its end, the next midnight, is past what a datetime holds
            raise InvalidInput(f"expires: {day} is too far ahead; leave --expires out for a token "
                               "that does not expire", field="expires")
        until = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
        if until <= now:
            raise InvalidInput(f"expires: {day} is already past", field="expires")
        return until
    return None


def is_expired(row: ApiTokenRow, now: datetime | None = None) -> bool:
    return row.expires_at is not None and row.expires_at <= (now or utcnow())


#: Longest maintainer name the store keeps (a token's holder, a correction's author).
MAX_NAME_CHARS = 255


def maintainer_name(name: str, field: str) -> str:
    """``name`` without blanks around it, refused (InvalidInput naming ``field``) when empty or
    longer than the store keeps: SQLite would store it whole where PostgreSQL refuses it."""
    name = name.strip()
    if not name:
        raise InvalidInput(f"{field}: the name of a maintainer is needed", field=field)
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"{field}: at most {MAX_NAME_CHARS} characters", field=field)
    problem = unstorable(name)
    if problem:
        raise InvalidInput(f"{field}: {problem}", field=field)
    return name


def create_token(*, session: Session, name: str,
                 expires_at: datetime | None = None) -> tuple[str, ApiTokenRow]:
    """A new token for maintainer ``name`` (refused after ``expires_at`` when given): the plain
    token (shown once) and its stored row."""
    name = maintainer_name(name, "name")
    if name.isascii() and name.isdigit():
        # `tokens revoke 7` reads 7 as a token id: this token could not be revoked by its name,
        # and another's could be revoked instead.
        raise InvalidInput(f"name: {name!r} is only digits, which `tokens revoke` reads as a "
                           "token id; give a name with a letter in it", field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiTokenRow(name=name, token_sha256=token_sha256(token), prefix=token[:SHOWN_CHARS],
                      created_at=utcnow(), expires_at=expires_at)
    session.add(row)
    session.flush()
    return token, row


#: A token's ``last_used_at`` is written again only this long after it was last written: a
#: client classifying bug after bug would otherwise add a write and a commit (on SQLite, a sync to
#: disk, and a turn at the one writer's lock) to every request.
USE_RECORDED_EVERY = timedelta(minutes=1)


def verify_token(*, session: Session, token: str | None) -> ApiTokenRow | None:
    """The unrevoked, unexpired token row ``token`` stands for, or None; a use is recorded on
    the row, unless one was in the last ``USE_RECORDED_EVERY``.

    The lookup is by the token's sha256, so the plain token is never compared or kept; the
    final comparison is constant-time anyway.
    """
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    digest = token_sha256(token)
    row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_sha256 == digest))
    if row is None or not hmac.compare_digest(row.token_sha256, digest) or row.revoked_at is not None \
            or is_expired(row):
        return None
    now = utcnow()
    if row.last_used_at is None or not now - USE_RECORDED_EVERY < row.last_used_at <= now:
        row.last_used_at = now
        session.flush()
    return row


def list_tokens(*, session: Session, include_revoked: bool = True) -> list[ApiTokenRow]:
    query = select(ApiTokenRow).order_by(ApiTokenRow.id)
    if not include_revoked:
        query = query.where(ApiTokenRow.revoked_at.is_(None))
    return list(session.scalars(query))


#: The fewest leading characters of a shown prefix that ``revoke_token`` takes: the fixed
#: ``inc_`` and two random ones.
MIN_PREFIX_CHARS = 6


def revoke_token(*, session: Session, token_id: int | None = None,
                 name_or_prefix: str | None = None, by: str | None = None) -> list[ApiTokenRow]:
    """Revoke the token with ``token_id``, or the one ``name_or_prefix`` names (see
    :func:`_named_tokens`); ``by`` (who revoked it) is recorded.

    Returns the rows revoked now; raises TokenNotFound when nothing unrevoked matches, and
    InvalidInput, revoking nothing, for a prefix too short or of several tokens.
    """
    if (token_id is None) == (name_or_prefix is None):
        raise InvalidInput("give a token id or a name/prefix, not both", field="token")
    query = select(ApiTokenRow).where(ApiTokenRow.revoked_at.is_(None)).order_by(ApiTokenRow.id)
    if token_id is not None:
        what = f"id {token_id}"
        if not 0 < token_id <= MAX_INTEGER:  # no token has it, and the store could not compare it
            raise TokenNotFound(f"no unrevoked token with {what}")
        rows = list(session.scalars(query.where(ApiTokenRow.id == token_id)))
    else:
        rows, what = _named_tokens(session, query, name_or_prefix or "")
    if not rows:
        raise TokenNotFound(f"no unrevoked token with {what}")
    now = utcnow()
    for row in rows:
        row.revoked_at = now
        row.revoked_by = by
    session.flush()
    return rows


def _named_tokens(session: Session, query: Select[ApiTokenRow],
                  given: str) -> tuple[list[ApiTokenRow], str]:
    """The unrevoked tokens (of ``query``) ``given`` names, and how to name ``given`` in a
    message: the token itself (by its sha256; a leaked token is revoked as it was found), else
    every token of that name, else the one token whose shown prefix starts with it (at least
    ``MIN_PREFIX_CHARS`` characters). InvalidInput names the tokens when it starts several."""
    whole = given.startswith(TOKEN_PREFIX) and len(given) > SHOWN_CHARS
    # A token is never repeated whole, in an error line either: its shown prefix says which.
    what = repr(given[:SHOWN_CHARS] + "...") if whole else repr(given[:40])
    if whole:
        rows = list(session.scalars(query.where(ApiTokenRow.token_sha256 == token_sha256(given))))
        if rows:
            return rows, what
    rows = list(session.scalars(query.where(ApiTokenRow.name == given)))
    if rows or len(given) > SHOWN_CHARS:
        return rows, what
    # substr, not LIKE: "_" in "inc_" is a LIKE wildcard, and SQLite's LIKE ignores case.
    rows = list(session.scalars(query.where(func.substr(ApiTokenRow.prefix, 1, len(given)) == given)))
    if rows and len(given) < MIN_PREFIX_CHARS:
        raise InvalidInput(f"token: {what} is too short for a prefix: give at least "
                           f"{MIN_PREFIX_CHARS} characters of the one `tokens list` shows, or the "
                           "token id", field="token")
    if len(rows) > 1:
        listed = ", ".join(f"id {r.id} ({r.name}, {r.prefix})" for r in rows)
        raise InvalidInput(f"token: {what} is the start of {len(rows)} unrevoked tokens: {listed}; "
                           "give more of the prefix, or the token id; none revoked", field="token")
    return rows, what
