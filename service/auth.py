"""Who may call a route: maintainers by API token (``Authorization: Bearer ...``), readers by
setting, Bugzilla's webhook by its shared secret."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import (
    APIKeyHeader,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from core.tokens import verify_token

from .deps import SessionDep, SettingsDep, StoreDep
from .schemas import Message

# auto_error=False: a missing or malformed header is ours to answer (401, not FastAPI's 403).
_bearer = HTTPBearer(auto_error=False, description="A maintainer's API token, from "
                                                   "`incidents tokens create NAME`.")

#: The answers of a maintainer route without a valid token, for its OpenAPI ``responses``.
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "No `Authorization: Bearer <token>` header, or a "
                                           "malformed one."},
    403: {"model": Message, "description": "The token is unknown, revoked or expired."},
}


@dataclass(frozen=True)
class Maintainer:
    """The holder of a valid token: its name (the author of what they do) and the token's id."""

    name: str
    token_id: int


def _unauthenticated(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


_MISSING = ("this route needs a maintainer's API token: `Authorization: Bearer <token>` "
            "(`incidents tokens create NAME`)")


def _sent_token(request: Request,
                credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The bearer token of the request, None without an ``Authorization`` header; 401 when the
    header is there but not ``Bearer <token>`` (what was sent is not repeated)."""
    if credentials is not None and len(credentials.credentials.split()) <= 1:
        return credentials.credentials
    if credentials is None and "authorization" not in request.headers:
        return None
    # Not a bearer scheme, or more than one word after it (a token has no blank in it).
    raise _unauthenticated("the Authorization header is malformed: send `Authorization: Bearer "
                           "<token>`")


def get_maintainer(request: Request,
                   credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                   session: SessionDep) -> Maintainer:
    """The maintainer whose token the request carries: 401 without a bearer token or with a
    malformed header, 403 when the token is unknown, revoked or expired. Only a valid token's
    ``last_used_at`` is written.

    It is committed here, on the request's session, before the route runs: a use is recorded
    even when the request then fails (an invalid body, a refused correction).
    """
    return maintainer_of(_sent_token(request, credentials), session, missing=_MISSING)


def maintainer_of(token: str | None, session: Session, *, missing: str) -> Maintainer:
    """The maintainer holding ``token`` (as typed: surrounding blanks are ignored), its use
    committed; 401 saying ``missing`` when there is none, 403 when it is unknown, revoked or
    expired.
    The token itself is never part of an answer or a log line."""
    token = (token or "").strip()
    if not token:
        raise _unauthenticated(missing)
    row = verify_token(session=session, token=token)
    if row is None:
        raise HTTPException(403, "the API token is unknown, revoked or expired")
    session.commit()
    return Maintainer(name=row.name, token_id=row.id)


async def get_reader(request: Request, settings: SettingsDep,
                     credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                     store: StoreDep) -> Maintainer | None:
    """Anyone may read, unless INCIDENTS_REQUIRE_TOKEN_FOR_READS: then only token holders.

    A token sent anyway is checked all the same: a wrong, revoked or expired one (or a malformed
    header) is refused, not ignored, so a client learns its token no longer works. Only then is
    the store reached (in a thread, on a session of its own): an anonymous read costs nothing.
    """
    token = _sent_token(request, credentials)
    if token is None and not settings.require_token_for_reads:
        return None

    def check() -> Maintainer:
        with store.session() as session:
            return maintainer_of(token, session, missing=_MISSING)

    return await run_in_threadpool(check)


MaintainerDep = Annotated[Maintainer, Depends(get_maintainer)]
ReaderDep = Annotated[Maintainer | None, Depends(get_reader)]
#: For a route's or a router's ``dependencies=[...]``: a reading route.
READERS = Depends(get_reader)

#: The answers of a reading route to a bad token (or to none, when reads need one).
READ_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "A malformed `Authorization` header, or none when "
                                           "INCIDENTS_REQUIRE_TOKEN_FOR_READS."},
    403: {"model": Message, "description": "The token sent is unknown, revoked or expired."},
}
#: The answer of a route whose store cannot be reached (or whose CA names file does not load).
STORE_UNAVAILABLE: dict[str, Any] = {
    "model": Message, "description": "The store is unreachable (`Retry-After: 5`), or the CA names "
                                     "file does not load; nothing was stored."}


def depends_on(dependant: Dependant, call: Any) -> bool:
    """Whether ``call`` is among the dependencies of a route, at any depth."""
    return dependant.call is call or any(depends_on(sub, call) for sub in dependant.dependencies)


def document_read_errors(router: APIRouter) -> None:
    """Add READ_AUTH_ERRORS to the OpenAPI answers of each reading route of ``router`` (every
    route that checks a reader's token, however it was declared)."""
    for route in router.routes:
        if isinstance(route, APIRoute) and depends_on(route.dependant, get_reader):
            for status, answer in READ_AUTH_ERRORS.items():
                route.responses.setdefault(status, answer)


def document_unavailable(router: APIRouter) -> None:
    """Add the 503 of an unreachable store (and of a CA names file that does not load) to the
    OpenAPI answers of each route of ``router`` that reads or writes the store or those names,
    however it was declared; a route's own 503 (no model active, say) is kept."""
    from .deps import get_batcher, get_ca_names, get_store

    for route in router.routes:
        if isinstance(route, APIRoute) and any(depends_on(route.dependant, call)
                                               for call in (get_store, get_batcher, get_ca_names)):
            route.responses.setdefault(503, STORE_UNAVAILABLE)


# -- Bugzilla's webhook ------------------------------------------------------------------------
WEBHOOK_KEY_HEADER = "X-Api-Key"
_webhook_key = APIKeyHeader(name=WEBHOOK_KEY_HEADER, auto_error=False, scheme_name="WebhookKey",
                            description="The webhook's secret (INCIDENTS_WEBHOOK_SECRET), as "
                                        "Bugzilla's webhook is set to send it.")
class _BasicOrNone(HTTPBasic):
    """HTTP basic credentials, or None: FastAPI's answers a header it cannot decode itself
    (401 "Not authenticated") even with ``auto_error`` off, where the route's own 401 says what
    to send."""

    async def __call__(  # type: ignore[override]  # FastAPI's HTTPBasic overrides it so too
            self, request: HTTPConnection) -> HTTPBasicCredentials | None:
        try:
            return await super().__call__(request)
        except HTTPException:
            return None


_webhook_basic = _BasicOrNone(auto_error=False, scheme_name="WebhookBasic",
                              description="Or the webhook's secret as the password (any user name).")

#: The answer of the webhook route without its secret, for its OpenAPI ``responses``.
WEBHOOK_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Message, "description": "The webhook's secret is missing or wrong."},
}


def check_webhook_secret(settings: SettingsDep,
                         key: Annotated[str | None, Depends(_webhook_key)],
                         basic: Annotated[HTTPBasicCredentials | None, Depends(_webhook_basic)]
                         ) -> None:
    """401 unless the request carries the webhook's secret: the ``X-Api-Key`` header when sent,
    else the password of HTTP basic auth, compared in constant time. Neither the secret nor
    what was sent goes into the answer or a log line.

    The route exists only when ``INCIDENTS_WEBHOOK_SECRET`` is set (``create_app``); 404 here too
    when it is not, should the route be mounted anyway.
    """
    secret = settings.webhook_secret
    if secret is None:
        raise HTTPException(404, "Not Found")
    given = key if key else basic.password if basic is not None else ""
    # Compared as bytes: compare_digest refuses str with characters beyond ASCII.
    if not given or not hmac.compare_digest(given.encode("utf-8"),
                                            secret.get_secret_value().encode("utf-8")):
        raise HTTPException(401, f"this route needs the webhook's secret, as the {WEBHOOK_KEY_HEADER} "
                                 "header (INCIDENTS_WEBHOOK_SECRET)",
                            headers={"WWW-Authenticate": 'Basic realm="bugzilla-webhook"'})


#: For a route's ``dependencies=[...]``: Bugzilla's webhook.
BUGZILLA_WEBHOOK = Depends(check_webhook_secret)
