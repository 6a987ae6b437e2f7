"""Maintainers' API tokens: created once, stored only as sha256, checked, revoked."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from classifier import InvalidInput, TokenNotFound

from .tables import ApiTokenRow, utcnow

TOKEN_PREFIX = "inc_"
# What `tokens list` shows to tell tokens apart: the fixed prefix and a few random characters.
SHOWN_CHARS = len(TOKEN_PREFIX) + 6


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(*, session: Session, name: str) -> tuple[str, ApiTokenRow]:
    """A new token for maintainer ``name``: the plain token (shown once) and its stored row."""
    name = name.strip()
    if not name:
        raise InvalidInput("name: a token needs the name of the maintainer who holds it", field="name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiTokenRow(name=name, token_sha256=token_sha256(token), prefix=token[:SHOWN_CHARS],
                      created_at=utcnow())
    session.add(row)
    session.flush()
    return token, row


def verify_token(*, session: Session, token: str | None) -> ApiTokenRow | None:
    """The unrevoked token row ``token`` stands for, or None; a use is recorded on the row.

    The lookup is by the token's sha256, so the plain token is never compared or kept; the
    final comparison is constant-time anyway.
    """
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    digest = token_sha256(token)
    row = session.scalar(select(ApiTokenRow).where(ApiTokenRow.token_sha256 == digest))
    if row is None or not hmac.compare_digest(row.token_sha256, digest) or row.revoked_at is not None:
        return None
    row.last_used_at = utcnow()
    session.flush()
    return row


def list_tokens(*, session: Session, include_revoked: bool = True) -> list[ApiTokenRow]:
    query = select(ApiTokenRow).order_by(ApiTokenRow.id)
    if not include_revoked:
        query = query.where(ApiTokenRow.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_token(*, session: Session, token_id: int | None = None,
                 name_or_prefix: str | None = None) -> list[ApiTokenRow]:
    """Revoke the token with ``token_id``, or every unrevoked token of a name or with a prefix.

    Returns the rows revoked now; raises TokenNotFound when nothing unrevoked matches.
    """
    if (token_id is None) == (name_or_prefix is None):
        raise InvalidInput("give a token id or a name/prefix, not both", field="token")
    query = select(ApiTokenRow).where(ApiTokenRow.revoked_at.is_(None))
    if token_id is not None:
        query = query.where(ApiTokenRow.id == token_id)
        what = f"id {token_id}"
    else:
        query = query.where(or_(ApiTokenRow.name == name_or_prefix,
                                ApiTokenRow.prefix == name_or_prefix))
        what = repr(name_or_prefix)
    rows = list(session.scalars(query))
    if not rows:
        raise TokenNotFound(f"no unrevoked token with {what}")
    now = utcnow()
    for row in rows:
        row.revoked_at = now
    session.flush()
    return rows
