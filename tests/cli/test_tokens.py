"""Maintainers' API tokens: shown once, stored as hashes, refused when revoked or wrong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from classifier import InvalidInput, TokenNotFound
from cli._shared import cli_user
from core.config import Settings
from core.db import session_scope
from core.tables import ApiTokenRow, utcnow
from core.tokens import (
    TOKEN_PREFIX,
    USE_RECORDED_EVERY,
    create_token,
    list_tokens,
    revoke_token,
    token_expiry,
    token_sha256,
    verify_token,
)
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
    assert f"by {cli_user()}" in run("tokens", "list").stdout
    with session_scope(store) as session:
        assert session.get(ApiTokenRow, token_id).revoked_by == cli_user()
    again = run("tokens", "revoke", token_id)
    assert again.exit_code == 1 and "no unrevoked token" in again.stderr
    with session_scope(store) as session:
        assert verify_token(session=session, token=token) is None


@pytest.mark.parametrize("token_id", [2**31, 10**23, 0])
def test_tokens_revoke_id_no_token_has(incidents, settings: Settings, store: str, token_id: int) -> None:
    """An id beyond what the store holds: no such token, in one line (it was an OverflowError
    traceback on SQLite for 10**23); nothing is revoked."""
    run("tokens", "create", "carol")
    incidents.fails("tokens", "revoke", token_id, says=(f"no unrevoked token with id {token_id}",))
    with session_scope(store) as session:
        assert [r.revoked_at for r in list_tokens(session=session)] == [None]
        with pytest.raises(TokenNotFound):
            revoke_token(session=session, token_id=token_id)


@pytest.mark.parametrize("token", ["\u00b2", "\u0661", "9" * 5000])
def test_tokens_revoke_digits_that_are_no_id(incidents, settings: Settings, store: str, token: str) -> None:
    """Digits int() refuses ("²", which str.isdigit takes; more than 4,300 of them): a name or
    prefix no token has, in one line (it was a ValueError traceback)."""
    run("tokens", "create", "carol")
    result = incidents.fails("tokens", "revoke", token, says=("no unrevoked token with '",))
    assert len(result.stderr.splitlines()) == 1
    with session_scope(store) as session:
        assert [r.revoked_at for r in list_tokens(session=session)] == [None]


def test_tokens_create_expiring_on_the_last_day_there_is(incidents, settings: Settings, store: str) -> None:
    """Its end is past what a datetime holds (it was an OverflowError traceback): one line, and
    no token is made."""
    incidents.fails("tokens", "create", "alice", "--expires", "9999-12-31",
                    says=("expires: 9999-12-31 is too far ahead; leave --expires out",))
    with session_scope(store) as session:
        assert list_tokens(session=session) == []
    incidents.ok("tokens", "create", "alice", "--expires", "9999-12-30")


def test_token_expiry_durations_and_dates() -> None:
    now = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert token_expiry(now=now) is None
    assert token_expiry(expires_in="90d", now=now) == now + timedelta(days=90)
    assert token_expiry(expires_in=" 12H ", now=now) == now + timedelta(hours=12)
    assert token_expiry(expires_in="2w", now=now) == now + timedelta(weeks=2)
    assert token_expiry(expires="2027-01-31", now=now) == datetime(2027, 2, 1, tzinfo=UTC)
    for bad in ("90", "d", "-1d", "1y", "1.5d"):
        with pytest.raises(InvalidInput, match="expires-in: .* is not a duration"):
            token_expiry(expires_in=bad, now=now)
    for zero in ("0d", "000h"):  # a duration, but one that expires as it is made
        with pytest.raises(InvalidInput, match=f"expires-in: '{zero}' must be more than zero"):
            token_expiry(expires_in=zero, now=now)
    with pytest.raises(InvalidInput, match="expires: '31/01/2027' is not a date YYYY-MM-DD"):
        token_expiry(expires="31/01/2027", now=now)
    with pytest.raises(InvalidInput, match="expires: 2026-11-26 is already past"):
        token_expiry(expires="2026-11-26", now=now)
    with pytest.raises(InvalidInput, match="expires: 9999-12-31 is too far ahead"):
        token_expiry(expires="9999-12-31", now=now)
    assert token_expiry(expires="9999-12-30", now=now) == datetime(9999, 12, 31, tzinfo=UTC)
    # A count past the year 9999 (or past any timedelta) is too far ahead, not "not a duration".
    assert token_expiry(expires_in="0400000w", now=now) == now + timedelta(weeks=400_000)
    for far in ("99999999999d", "9999999w", "1" * 50 + "h"):
        with pytest.raises(InvalidInput, match="expires-in: .* is too far ahead; leave --expires-in out"):
            token_expiry(expires_in=far, now=now)
    with pytest.raises(InvalidInput, match="not both"):
        token_expiry(expires_in="1d", expires="2027-01-01", now=now)


def test_verify_token_refuses_expired(settings: Settings, store: str) -> None:
    with session_scope(store) as session:
        token, _ = create_token(session=session, name="alice",
                                expires_at=utcnow() - timedelta(seconds=1))
        fresh, _ = create_token(session=session, name="bob",
                                expires_at=utcnow() + timedelta(minutes=5))
    with session_scope(store) as session:
        assert verify_token(session=session, token=token) is None
        assert verify_token(session=session, token=fresh) is not None
        assert session.scalar(select(ApiTokenRow.last_used_at)
                              .where(ApiTokenRow.name == "alice")) is None


def test_a_use_is_written_once_a_minute(settings: Settings, store: str) -> None:
    """Checking a token used within the minute leaves its last use as it was (a request sent
    after another adds no write); one used before that, or "used" in the future (a clock set
    back), is written anew."""
    with session_scope(store) as session:
        token, _ = create_token(session=session, name="alice")

    def used() -> datetime | None:
        with session_scope(store) as session:
            return session.scalar(select(ApiTokenRow.last_used_at))

    def set_used(when: datetime) -> None:
        with session_scope(store) as session:
            session.execute(ApiTokenRow.__table__.update().values(last_used_at=when))

    def check() -> None:
        with session_scope(store) as session:
            assert verify_token(session=session, token=token) is not None

    check()
    assert used() is not None
    recent = utcnow() - USE_RECORDED_EVERY / 2
    set_used(recent)
    check()
    assert used() == recent  # within the minute: left as it was
    for stale in (utcnow() - USE_RECORDED_EVERY * 2, utcnow() + timedelta(hours=1)):
        set_used(stale)
        check()
        now = used()
        assert now is not None and now != stale and abs(now - utcnow()) < timedelta(minutes=1)


def test_tokens_cli_create_with_expiry(settings: Settings, store: str) -> None:
    created = run("tokens", "create", "dora", "--expires-in", "90d")
    assert created.exit_code == 0, created.output
    assert "valid until" in created.stderr
    dated = run("tokens", "create", "erin", "--expires", "2099-12-31")
    assert dated.exit_code == 0, dated.output
    with session_scope(store) as session:
        rows = {r.name: r for r in list_tokens(session=session)}
        assert abs(rows["dora"].expires_at - (utcnow() + timedelta(days=90))) < timedelta(minutes=1)
        assert rows["erin"].expires_at == datetime(2100, 1, 1, tzinfo=UTC)
        rows["erin"].expires_at = utcnow() - timedelta(days=1)
    listed = run("tokens", "list").stdout
    dora = next(line for line in listed.splitlines() if "dora" in line)
    erin = next(line for line in listed.splitlines() if "erin" in line)
    assert "expires 20" in dora and "active" in dora
    assert "EXPIRED" in erin
    refused = run("tokens", "create", "fred", "--expires-in", "soon")
    assert refused.exit_code != 0 and "expires-in: 'soon' is not a duration" in refused.stderr
    assert refused.stdout == ""
    with session_scope(store) as session:
        assert "fred" not in {r.name for r in list_tokens(session=session)}


def test_tokens_create_name_of_digits_only(incidents, settings: Settings, store: str) -> None:
    """`tokens revoke 7` reads 7 as a token id: a maintainer named 7 could not be revoked by
    name (and another's token 7 would go instead). Refused when created."""
    incidents.fails("tokens", "create", "7", says=("error: name: '7' is only digits",))
    with session_scope(store) as session:
        assert list_tokens(session=session) == []
    incidents.ok("tokens", "create", "team7")


@pytest.mark.parametrize("name", ["bob\udcff", "a\x00b"])
def test_tokens_create_name_that_cannot_be_stored(incidents, settings: Settings, store: str,
                                                  name: str) -> None:
    """Bytes of an argument that are not UTF-8 reach Python as a lone surrogate: one line, not a
    UnicodeEncodeError traceback from the store; nothing created."""
    result = incidents.fails("tokens", "create", name, says=("error: name: contains a",))
    assert len(result.stderr.splitlines()) == 1
    with session_scope(store) as session:
        assert list_tokens(session=session) == []


def test_tokens_revoke_the_token_itself(incidents, settings: Settings, store: str) -> None:
    """A leaked token, passed whole, revokes it (found by its sha256), the holder's other
    tokens left alone; the error lines never repeat it whole."""
    leaked = incidents.ok("tokens", "create", "alice").stdout.strip()
    other = incidents.ok("tokens", "create", "alice").stdout.strip()
    result = incidents.ok("tokens", "revoke", leaked)
    assert result.stdout.startswith("revoked token 1 (alice)") and len(result.stdout.splitlines()) == 1
    with session_scope(store) as session:
        assert verify_token(session=session, token=leaked) is None
        assert verify_token(session=session, token=other) is not None
    again = incidents.fails("tokens", "revoke", leaked,
                            says=(f"no unrevoked token with '{leaked[:len(TOKEN_PREFIX) + 6]}...'",))
    assert leaked not in again.stderr
    unknown = leaked[:-1] + ("A" if leaked[-1] != "A" else "B")
    assert unknown not in incidents.fails("tokens", "revoke", unknown, says=("no unrevoked token",)).stderr


def _tokens_with_prefixes(store: str, *prefixes: str) -> None:
    """Tokens of bob, carol, ... whose shown prefixes are ``prefixes`` (random ones would rarely
    share their first characters)."""
    with session_scope(store) as session:
        for name, prefix in zip(["bob", "carol", "dave", "erin"][:len(prefixes)], prefixes, strict=True):
            _, row = create_token(session=session, name=name)
            row.prefix = prefix


def test_tokens_revoke_by_the_start_of_a_prefix(incidents, settings: Settings, store: str) -> None:
    """Six characters or more of a shown prefix revoke the one unrevoked token they start; those
    of several are refused, naming each (id, name, prefix), and nothing is revoked."""
    _tokens_with_prefixes(store, "inc_abCD12", "inc_abEF34", "inc_xyGH56")

    def revoked() -> list[str]:
        with session_scope(store) as session:
            return [r.name for r in list_tokens(session=session) if r.revoked_at is not None]

    result = incidents.fails("tokens", "revoke", "inc_ab", says=(
        "error: token: 'inc_ab' is the start of 2 unrevoked tokens: id 1 (bob, inc_abCD12), "
        "id 2 (carol, inc_abEF34); give more of the prefix, or the token id; none revoked",))
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert revoked() == []
    incidents.fails("tokens", "revoke", "inc_x", says=("error: token: 'inc_x' is too short for a prefix",))
    incidents.fails("tokens", "revoke", "inc_AB", says=("no unrevoked token with 'inc_AB'",))  # case counts
    assert revoked() == []
    assert incidents.ok("tokens", "revoke", "inc_abE").stdout == "revoked token 2 (carol)\n"
    # Carol's revoked, bob's is the only unrevoked one the start is of; the whole prefix works too.
    assert incidents.ok("tokens", "revoke", "inc_ab").stdout == "revoked token 1 (bob)\n"
    assert incidents.ok("tokens", "revoke", "inc_xyGH56").stdout == "revoked token 3 (dave)\n"
    assert revoked() == ["bob", "carol", "dave"]


def test_tokens_revoke_a_name_revokes_all_its_tokens(incidents, settings: Settings, store: str) -> None:
    for _ in range(2):
        incidents.ok("tokens", "create", "alice")
    incidents.ok("tokens", "create", "bob")
    assert incidents.ok("tokens", "revoke", "alice").stdout == ("revoked token 1 (alice)\n"
                                                                "revoked token 2 (alice)\n")
    with session_scope(store) as session:
        assert [r.name for r in list_tokens(session=session, include_revoked=False)] == ["bob"]
