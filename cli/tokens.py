"""`incidents tokens create | list | revoke`: maintainers' API tokens in the store."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from cli._shared import cli_user, context, plain_table, print_table, reported_errors

#: A token id as typed: ASCII digits (``str.isdigit`` also takes "²", which int() refuses), no
#: more than int() reads (4,300); anything else is a name or a prefix.
_TOKEN_ID = re.compile(r"[0-9]{1,4300}")

app = typer.Typer(help="Create, list and revoke maintainers' API tokens.", no_args_is_help=True)


@app.command("create")
def tokens_create(invocation: typer.Context,
                  name: Annotated[str, typer.Argument(help="The maintainer who holds the token.")],
                  expires_in: Annotated[str | None, typer.Option(
                      "--expires-in", help="Refuse the token after this long: 12h, 90d, 8w.")] = None,
                  expires: Annotated[str | None, typer.Option(
                      "--expires", help="Refuse the token after this day (YYYY-MM-DD, UTC).")] = None,
                  ) -> None:
    """Create a maintainer's API token and print it (once: only its hash is stored)."""
    from core.db import session_scope
    from core.tokens import create_token, token_expiry

    with reported_errors():
        expires_at = token_expiry(expires_in=expires_in, expires=expires)
        with session_scope(context(invocation).writable_store()) as session:
            token, row = create_token(session=session, name=name, expires_at=expires_at)
            token_id = row.id
    typer.echo(token)
    until = f", valid until {_when(expires_at)}" if expires_at else ""
    typer.secho(f"token {token_id} for {name}{until}: copy it now, it will not be shown again "
                "(send it as `Authorization: Bearer <token>`)", err=True, fg=typer.colors.YELLOW)


def _when(moment: Any) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"


@app.command("list")
def tokens_list(invocation: typer.Context) -> None:
    """Every token: id, name, prefix, created, last used, expiry, revoked."""
    from core.tokens import is_expired, list_tokens

    with reported_errors():
        with context(invocation).reading() as session:  # a store never migrated holds no tokens
            rows = [] if session is None else [
                (str(r.id), r.name, f"{r.prefix}...", f"created {_when(r.created_at)}",
                 f"last used {_when(r.last_used_at)}",
                 f"expires {_when(r.expires_at)}" if r.expires_at else "no expiry",
                 f"REVOKED {_when(r.revoked_at)} by {r.revoked_by or '?'}" if r.revoked_at else
                 "EXPIRED" if is_expired(r) else "active")
                for r in list_tokens(session=session)]
    if not rows:
        typer.echo("no tokens; create one with `incidents tokens create NAME`")
        return
    table = plain_table()
    table.add_column(justify="right", min_width=4)
    for _ in range(6):
        table.add_column()
    for row in rows:
        table.add_row(*row)
    print_table(table)


@app.command("revoke")
def tokens_revoke(invocation: typer.Context, token: Annotated[str, typer.Argument(
        help="A token id (see `tokens list`), the token itself, a name (all its active tokens), "
             "or the start of a prefix `tokens list` shows (6 characters or more, one token).")]) -> None:
    """Revoke a token: requests with it are refused from now on."""
    from core.db import session_scope
    from core.tokens import revoke_token

    with reported_errors():
        with session_scope(context(invocation).writable_store()) as session:
            rows = revoke_token(session=session, token_id=int(token), by=cli_user()) \
                if _TOKEN_ID.fullmatch(token) else \
                revoke_token(session=session, name_or_prefix=token, by=cli_user())
            revoked = [(r.id, r.name) for r in rows]
    for token_id, name in revoked:
        typer.echo(f"revoked token {token_id} ({name})")
