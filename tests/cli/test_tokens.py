"""Maintainers' API tokens: shown once, stored as hashes, refused when revoked or wrong."""

from __future__ import annotations

from sqlalchemy import select, text

from core.config import Settings
from core.db import session_scope
from core.tables import ApiTokenRow
from core.tokens import TOKEN_PREFIX, create_token, list_tokens, revoke_token, token_sha256, verify_token
from tests.fixtures import run


def _dump(settings: Settings) -> str:
    with session_scope(settings.database_url) as session:
        return repr(session.execute(text("SELECT * FROM api_tokens")).all())


def test_create_token_stores_hash_only(settings: Settings, store: str) -> None:
    with session_scope(store) as session:
        token, row = create_token(session=session, name="alice")
    assert token.startswith(TOKEN_PREFIX) and len(token) > 40
    assert row.token_sha256 == token_sha256(token)
    assert token not in _dump(settings)
    assert token[len(TOKEN_PREFIX) + 10:] not in _dump(settings)


def test_verify_token_refuses_wrong_and_revoked(settings: Settings, store: str) -> None:
    with session_scope(store) as session:
        token, row = create_token(session=session, name="alice")
        other, _ = create_token(session=session, name="bob")
    with session_scope(store) as session:
        found = verify_token(session=session, token=token)
        assert found is not None and found.name == "alice" and found.last_used_at is not None
        assert verify_token(session=session, token=token + "x") is None
        assert verify_token(session=session, token="") is None
        assert verify_token(session=session, token=None) is None
        assert verify_token(session=session, token=token_sha256(token)) is None
    with session_scope(store) as session:
        revoked = revoke_token(session=session, token_id=row.id)
        assert [r.name for r in revoked] == ["alice"]
    with session_scope(store) as session:
        assert verify_token(session=session, token=token) is None
        assert verify_token(session=session, token=other) is not None
        assert [r.name for r in list_tokens(session=session, include_revoked=False)] == ["bob"]


def test_tokens_cli_create_list_revoke(settings: Settings, store: str) -> None:
    created = run("tokens", "create", "carol")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith(TOKEN_PREFIX)
    assert "will not be shown again" in created.stderr
    listed = run("tokens", "list")
    assert "carol" in listed.stdout and token not in listed.stdout and "active" in listed.stdout
    with session_scope(store) as session:
        token_id = session.scalar(select(ApiTokenRow.id).where(ApiTokenRow.name == "carol"))
    assert run("tokens", "revoke", token_id).exit_code == 0
    assert "REVOKED" in run("tokens", "list").stdout
    again = run("tokens", "revoke", token_id)
    assert again.exit_code == 1 and "no unrevoked token" in again.stderr
    with session_scope(store) as session:
        assert verify_token(session=session, token=token) is None
