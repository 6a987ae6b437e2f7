"""Who may call a route: maintainers by API token (``Authorization: Bearer ...``), readers by setting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.tokens import verify_token

from .deps import SessionDep, SettingsDep
from .schemas import Message

# auto_error=False: a missing or malformed header is ours to answer (401, not FastAPI's 403).
_bearer = HTTPBearer(auto_error=False, description="A maintainer's API token, from "
                                                   "`incidents tokens create NAME`.")

#: The answers of a maintainer route without a valid token, for its OpenAPI ``responses``.
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "No `Authorization: Bearer <token>` header."},
    403: {"model": Message, "description": "The token is unknown or revoked."},
}


@dataclass(frozen=True)
class Maintainer:
    """The holder of a valid token: its name (the author of what they do) and the token's id."""

    name: str
    token_id: int


def _unauthenticated(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def get_maintainer(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                   session: SessionDep) -> Maintainer:
    """The maintainer whose token the request carries: 401 without a bearer token, 403 when the
    token is unknown or revoked. Only a valid token's ``last_used_at`` is written.

    It is committed here, on the request's session, before the route runs: a use is recorded
    even when the request then fails (an invalid body, a refused correction).
    """
    if credentials is None or not credentials.credentials.strip():
        raise _unauthenticated("this route needs a maintainer's API token: "
                               "`Authorization: Bearer <token>` (`incidents tokens create NAME`)")
    row = verify_token(session=session, token=credentials.credentials.strip())
    if row is None:
        raise HTTPException(403, "the API token is unknown or revoked")
    session.commit()
    return Maintainer(name=row.name, token_id=row.id)


def get_reader(settings: SettingsDep,
               credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
               session: SessionDep) -> Maintainer | None:
    """Anyone may read, unless INCIDENTS_REQUIRE_TOKEN_FOR_READS: then only token holders."""
    if not settings.require_token_for_reads:
        return None
    return get_maintainer(credentials, session)


MaintainerDep = Annotated[Maintainer, Depends(get_maintainer)]
ReaderDep = Annotated[Maintainer | None, Depends(get_reader)]
#: For a route's or a router's ``dependencies=[...]``: a reading route.
READERS = Depends(get_reader)
