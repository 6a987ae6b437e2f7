"""How the service answers errors: 4xx naming the field for client mistakes, 503 when not ready.

A client's bad input (422, 413) has the shape of FastAPI's validation errors,
``{"detail": [{"type", "loc", "msg", ...}]}``, naming the field; an answer about the request as a
whole (401, 403, 404, 405, 409, 500, 503) has a sentence as its ``detail`` (503 also when the
maintainers' CA names file does not load; 409 for a model version that is there but cannot be
used, such as one whose card is damaged). No answer names a path of the
server: the models folder is "the models folder", a file in it is named from there (``v2/model.skops``),
and any other path by its last part (the log keeps them whole).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from classifier import (
    CANamesError,
    InvalidIncident,
    InvalidPeriod,
    ModelError,
    ModelNotFound,
    StoreUnavailable,
)

logger = logging.getLogger("service.errors")

#: Inputs echoed back in an error are cut to this many characters of JSON.
_MAX_ECHO = 200
#: An absolute path in a message: a ``/`` that does not follow a word, a ``:`` or a ``/`` (so not
#: the path of a URL), up to a blank, a quote or punctuation that ends a clause.
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.])/[^\s'\"(),;]*[^\s'\"(),;:.]")


class ModelUnavailable(Exception):
    """No model version can answer (none is active, or the active one failed to load)."""


def invalid(loc: tuple[Any, ...], msg: str, kind: str = "value_error",
            value: Any = None) -> RequestValidationError:
    """A validation error at ``loc`` built by hand, shaped like pydantic's."""
    error: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg}
    if value is not None:
        error["input"] = value
    return RequestValidationError([error])


def without_paths(text: str, models_dir: Path | None = None) -> str:
    """``text`` for an answer: the models folder named as such, paths in it made relative to it,
    any other absolute path cut to its last part."""
    if models_dir is not None:
        for root in dict.fromkeys((str(models_dir), str(Path(models_dir).resolve()))):
            text = text.replace(root + "/", "").replace(root, "the models folder")
    return _ABSOLUTE_PATH.sub(lambda match: Path(match.group()).name or "/", text)


def _public(request: Request, exc: Exception) -> str:
    settings = getattr(request.app.state, "settings", None)
    return without_paths(str(exc), getattr(settings, "models_dir", None))


def _printable(value: Any) -> Any:
    """``value`` with strings made encodable (lone surrogates escaped)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    return value


def _echo(value: Any) -> Any | None:
    """The input to echo back, or None when it is too big to be worth sending."""
    try:
        text = json.dumps(jsonable_encoder(_printable(value)), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return _printable(value) if len(text) <= _MAX_ECHO else None


def _clean(error: dict[str, Any]) -> dict[str, Any]:
    out = {"type": error.get("type"), "loc": _printable(list(error.get("loc", ()))),
           "msg": _printable(error.get("msg", ""))}
    if "ctx" in error:
        out["ctx"] = {k: _printable(str(v) if isinstance(v, Exception) else v)
                      for k, v in error["ctx"].items()}
    if "input" in error:
        echoed = _echo(error["input"])
        if echoed is not None:
            out["input"] = echoed
    return out


async def validation_failed(request: Request, exc: Exception) -> JSONResponse:
    # FastAPI's own handler echoes every input whole (a 10 MB description comes back) and
    # fails on a lone surrogate in the input; this one cuts and escapes them.
    errors = [_clean(e) for e in cast(RequestValidationError, exc).errors()]
    if _not_sent_as_json(request, errors):
        # FastAPI reads a body of another type as no body at all ("Field required"), or, sent
        # as a form (curl's `-d` without a header), as bytes ("Input should be a valid dictionary").
        errors = [{"type": "content_type", "loc": ["body"],
                   "msg": "send the body as JSON, with the header `Content-Type: application/json` "
                          f"(it came as {request.headers.get('content-type', '')[:100] or 'no content type'!r})"}]
    return JSONResponse(jsonable_encoder({"detail": errors}), status_code=422)


def _not_sent_as_json(request: Request, errors: list[dict[str, Any]]) -> bool:
    """The errors come from a body sent as something else than JSON. A form is refused only as
    a whole (``loc`` the body itself): the maintainers' page posts forms whose fields are checked."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        return False
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return any(e["loc"] == ["body"] for e in errors)
    return any(e["loc"][:1] == ["body"] for e in errors)


async def incident_invalid(request: Request, exc: Exception) -> JSONResponse:
    """422 at the field the error names; its message without the field's name in front (the
    ``loc`` names it: "bug_id: bug 999 is not in the store" said it twice)."""
    field = cast(InvalidIncident, exc).field
    loc = ["body", *field.split(".")] if field else ["body"]
    return JSONResponse({"detail": [{"type": "value_error", "loc": loc,
                                     "msg": field_message(cast(InvalidIncident, exc))}]},
                        status_code=422)


def field_message(exc: InvalidIncident) -> str:
    """The error's message without its field's name in front, for an answer whose ``loc`` names
    the field (the CLI, which has no ``loc``, keeps it)."""
    text = str(exc)
    return text.removeprefix(f"{exc.field}: ") if exc.field else text


async def period_invalid(request: Request, exc: Exception) -> JSONResponse:
    field = cast(InvalidPeriod, exc).field or "start"
    return JSONResponse({"detail": [{"type": "value_error", "loc": ["query", field],
                                     "msg": str(exc).removeprefix(f"{field}: ")}]}, status_code=422)


async def ca_names_unreadable(request: Request, exc: Exception) -> JSONResponse:
    logger.error("the CA names file does not load: %s", exc)
    return JSONResponse({"detail": f"the CA names file does not load: {_public(request, exc)}"},
                        status_code=503)


async def model_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": _public(request, exc)}, status_code=503, headers={"Retry-After": "30"})


async def model_not_found(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": _public(request, exc)}, status_code=404)


async def model_unusable(request: Request, exc: Exception) -> JSONResponse:
    """A version that is there but cannot be used (its card damaged, its artefact changed): 409,
    as the page answers a promotion refused for it. Not 404, which would say there is no such
    version, nor 503: waiting does not mend it, a maintainer has to. ModelNotFound keeps its 404
    (a handler is looked up by the exception's class first)."""
    logger.warning("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": _public(request, exc)}, status_code=409)


async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": _public(request, exc)}, status_code=503, headers={"Retry-After": "5"})


#: What FastAPI answers (400, no field) for a JSON body it cannot decode at all.
_UNPARSED = "There was an error parsing the body"


async def http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's answer, except for a body that cannot be parsed at all: a 422 at ``body``
    saying why (not UTF-8, or nested deeper than the parser goes), as a malformed one gets."""
    error = cast(HTTPException, exc)
    if error.status_code == 400 and error.detail == _UNPARSED:
        cause = error.__cause__
        why = ("it is not UTF-8 text" if isinstance(cause, UnicodeDecodeError)
               else "it nests too deeply" if isinstance(cause, RecursionError)
               else "a number in it has more than 4300 digits"
               if isinstance(cause, ValueError) and "digits" in str(cause)
               else f"{type(cause).__name__ if cause else 'unreadable'}")
        return await validation_failed(request, invalid(
            ("body",), f"the body cannot be read as JSON: {why}", "json_invalid"))
    return await http_exception_handler(request, error)


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", "-")
    logger.error("unhandled error in %s %s (request %s)", request.method, request.url.path,
                 request_id, exc_info=exc)
    return JSONResponse({"detail": f"internal error; quote request id {request_id}"},
                        status_code=500, headers={"X-Request-ID": request_id})


def install(app: FastAPI) -> None:
    """Register the handlers above on ``app``."""
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(InvalidIncident, incident_invalid)
    app.add_exception_handler(InvalidPeriod, period_invalid)
    app.add_exception_handler(CANamesError, ca_names_unreadable)
    app.add_exception_handler(ModelUnavailable, model_unavailable)
    app.add_exception_handler(ModelNotFound, model_not_found)
    app.add_exception_handler(ModelError, model_unusable)
    app.add_exception_handler(StoreUnavailable, store_unavailable)
    app.add_exception_handler(Exception, unexpected)
