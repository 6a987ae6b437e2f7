"""The maintainers' page at ``/``: the briefing of a period with its chart, the review queue with
a form to correct each incident, and the model versions with promotion and rollback.

Rendered on the server with Jinja2 (``service/templates/ui``, its stylesheet at
``/ui/style.css``); reading needs no JavaScript. The forms post to ``/ui/...`` with the
maintainer's API token typed into them, checked as the REST API's maintainer routes check it
(:func:`service.auth.maintainer_of`). So no credential rides along by itself and another site
cannot forge a post (no CSRF); a token never goes into a URL, a cookie or a log line.

A post that worked answers 303 back to the page, which says what was done; one that did not
answers the page again with the error and nothing stored: 401 without a token, 403 with an
unknown, revoked or expired one, 404 for an unknown model version, 409 when a version cannot be made
active, 422 for a field of the form (the unknown tags named).

With ``INCIDENTS_REQUIRE_TOKEN_FOR_READS`` the page and its posts need a reader's bearer token
too, as every reading route does: a refused post shows the whole page, so it must not show it to
whoever may not read it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from classifier import InvalidIncident, ModelError, ModelNotFound, Taxonomy
from core.aggregate import Briefing, briefing
from core.classification import explain_tags
from core.corrections import MAX_NOTE_CHARS, list_corrections, record_correction
from core.live import live_record, live_summary
from core.moments import calendar_day
from core.registry import LoadedModel
from core.review import ReviewItem, review_queue
from core.store import MAX_BUG_ID, iter_incidents, row_incident

from ..active_model import ActiveModel
from ..auth import READERS, Maintainer, maintainer_of
from ..config import ServiceSettings
from ..deps import ActiveModelDep, SessionDep, SettingsDep, TaxonomyDep, get_ca_names
from ..errors import without_paths
from ..schemas import bug_id_of
from .models import version_cards

logger = logging.getLogger("service.ui")
router = APIRouter(tags=["page"], include_in_schema=False)

_HERE = Path(__file__).resolve().parent.parent
STYLESHEET = _HERE / "static" / "ui.css"
#: The period shown when none is asked for: the last half year, to today.
DEFAULT_DAYS = 182
#: Incidents of the review queue shown at once, and the most a page may ask for.
REVIEW_SHOWN, REVIEW_MAX = 20, 200
#: Longest text the tags field of a correction takes (the note's limit is the API's).
MAX_TAGS_TYPED = 2000
_TOKEN_MISSING = "type your maintainer token (`incidents tokens create NAME`) to do this"
# What a page may carry and say it did after a redirect: never free text, only ids.
_VERSION = re.compile(r"^v\d{1,9}$")
# The page loads nothing from elsewhere and runs no script.
_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                                       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    """The page's templates (built at first use, not at import)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_HERE / "templates" / "ui"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    return Jinja2Templates(env=env)


# -- what the page shows ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    """The days whose briefing is shown, both included (UTC)."""

    start: date
    end: date

    @property
    def lower(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def upper(self) -> datetime:
        return datetime.combine(self.end, time.max, tzinfo=UTC)

    def query(self, **more: object) -> str:
        """The page's query string for this period, with ``more`` (None values left out)."""
        values = {"start": self.start.isoformat(), "end": self.end.isoformat(), **more}
        return urlencode({k: v for k, v in values.items() if v is not None})


def read_period(start: str | None, end: str | None, *, today: date | None = None
                ) -> tuple[Period, str | None]:
    """The period asked for, or the last half year and why the asked one cannot be used."""
    today = today or datetime.now(UTC).date()
    default = Period(today - timedelta(days=DEFAULT_DAYS), today)
    days: dict[str, date] = {}
    for name, value, fallback in (("start", start, default.start), ("end", end, default.end)):
        text = (value or "").strip()
        try:
            # A calendar day as /aggregate and the report read one.
            days[name] = calendar_day(text) if text else fallback
        except ValueError:
            return default, f"{name}: {text[:40]!r} is not a day like 2024-01-31"
    if days["start"] > days["end"]:
        return default, f"start: {days['start']} is after end {days['end']}"
    return Period(days["start"], days["end"]), None


@dataclass(frozen=True)
class ReviewEntry:
    """An incident of the review queue as the page shows it."""

    item: ReviewItem
    url: str
    #: Each predicted tag and its score (None when the queue does not carry it).
    tag_scores: list[tuple[str, float | None]]
    #: The best scores of tags that were not predicted: what the model hesitated over.
    other_scores: list[tuple[str, float]]
    #: Per predicted tag, the words that pushed it (``[{"term", "weight"}]``).
    words: dict[str, list[dict[str, Any]]]


def review_entries(*, session: Session, items: list[ReviewItem], loaded: LoadedModel | None,
                   model_version: str, bugzilla_url: str) -> list[ReviewEntry]:
    """The queue's incidents with their scores and the words behind their tags.

    The words are not stored with a prediction: they are computed again with the model that
    made it, when it is the one in service (else none are shown).
    """
    words: list[dict[str, list[dict[str, Any]]]] = [{} for _ in items]
    if items and loaded is not None and loaded.version == model_version:
        rows = {row.id: row for row in iter_incidents(session=session,
                                                      ids=[i.incident_id for i in items])}
        known = [i for i, item in enumerate(items) if item.incident_id in rows]
        explained = explain_tags(loaded, [row_incident(rows[items[i].incident_id]) for i in known],
                                 [items[i].tags for i in known])
        for i, why in zip(known, explained, strict=True):
            words[i] = why
    return [ReviewEntry(item=item, url=f"{bugzilla_url}/show_bug.cgi?id={item.incident_id}",
                        tag_scores=[(t, item.top_scores.get(t)) for t in item.tags],
                        other_scores=[(t, s) for t, s in item.top_scores.items()
                                      if t not in item.tags],
                        words=why)
            for item, why in zip(items, words, strict=True)]


def _part(mapping: dict[str, Any], *path: str) -> dict[str, Any]:
    """``mapping[path[0]][path[1]]...``, or {} where a card written by another version of this
    code has no such part."""
    for key in path:
        mapping = mapping.get(key) or {}
    return mapping


@dataclass(frozen=True)
class VersionEntry:
    """A model version as the page shows it: the figures of its card and its live record."""

    version: str
    active: bool
    serving: bool
    #: Empty when the card cannot be read: the row shows no figures, ``damaged`` says why.
    card: dict[str, Any]
    live: dict[str, Any]
    damaged: str | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        """The held-out evaluation: cutoff, test_size, contenders, model_per_category."""
        return _part(self.card, "metrics")

    @property
    def held_out(self) -> dict[str, Any]:
        """The model's own held-out figures (category micro- and macro-F1, ...)."""
        return _part(self.card, "metrics", "contenders", "model")


def version_entries(*, session: Session, active: ActiveModel, taxonomy: Taxonomy,
                    settings: ServiceSettings) -> list[VersionEntry]:
    """Every version, oldest first, with its card and its live record; one whose card cannot be
    read is shown damaged (its live record is the store's, so it is still shown)."""
    registry = active.registry
    named = active.named()
    loaded = active.loaded
    entries = []
    for version, read, damaged in version_cards(registry):
        card = read or {}
        record = live_record(session=session, model_version=version, taxonomy=taxonomy,
                             last_n=settings.live_window)
        entries.append(VersionEntry(
            version=version, active=version == named,
            serving=loaded is not None and loaded.version == version, card=card,
            live=live_summary(record, card, margin=settings.live_margin), damaged=damaged))
    return entries


@dataclass
class Outcome:
    """What the page says at its top: what was done, or what went wrong and where."""

    notice: str | None = None
    error: str | None = None
    #: The review item whose form failed, and what was typed into it (never the token).
    bug_id: int | None = None
    typed: dict[str, str] = field(default_factory=dict)


def _notice(*, session: Session, active: ActiveModel, corrected: int | None,
            promoted: str | None, rolled_back: str | None) -> str | None:
    """What the redirect after a post says was done, read back from the store and the registry."""
    if corrected is not None:
        rows, _ = list_corrections(session=session, bug_id=corrected, limit=1)
        if rows:
            tags = ", ".join(rows[0].tags) or "no incident type"
            return (f"Correction of bug {corrected} stored ({tags}; by {rows[0].author}): "
                    "the briefing counts it with these tags now.")
    active_now = active.named()
    if promoted is not None and promoted == active_now:
        return f"{promoted} is the active model version now."
    if rolled_back is not None and rolled_back == active_now:
        return f"Rolled back: {rolled_back} is the active model version again."
    return None


def render_page(request: Request, *, session: Session, taxonomy: Taxonomy,
                settings: ServiceSettings, active: ActiveModel, period: Period,
                outcome: Outcome, status_code: int = 200, limit: int = REVIEW_SHOWN) -> Response:
    """The whole page for ``period``, with ``outcome`` said at its top."""
    loaded = active.current()
    version = loaded.version if loaded is not None else active.named()
    ca_names = get_ca_names(settings)  # the CAs named as /aggregate and the report name them
    with request.app.state.briefing_slots.held():
        table: Briefing = briefing(session=session, taxonomy=taxonomy, start=period.lower,
                                   end=period.upper, active_version=version,
                                   excluded_resolutions=settings.briefing_excluded_resolutions,
                                   ca_names=ca_names)
    # The queue of the period shown: the predictions its briefing counts that wait for review.
    items = review_queue(session=session, model_version=version, limit=limit, start=period.lower,
                         end=period.upper, ca_names=ca_names,
                         excluded_resolutions=settings.briefing_excluded_resolutions) if version else []
    context = {
        "period": period, "outcome": outcome, "briefing": table, "model_version": version,
        "serving_version": loaded.version if loaded is not None else None,
        "model_error": active.error,
        "review": review_entries(session=session, items=list(items), loaded=loaded,
                                 model_version=version or "", bugzilla_url=settings.bugzilla_url),
        "review_limit": limit, "review_more": len(items) >= limit and limit < REVIEW_MAX,
        "versions": version_entries(session=session, active=active, taxonomy=taxonomy,
                                    settings=settings),
        "rollback_target": active.registry.rollback_target(),
        "tags": taxonomy.tag_categories,
    }
    return templates().TemplateResponse(request, "index.html", context, status_code=status_code,
                                        headers=_HEADERS)


# -- routes -------------------------------------------------------------------------------------------
@router.get("/", response_class=Response, dependencies=[READERS])
def maintainers_page(
    request: Request, session: SessionDep, taxonomy: TaxonomyDep, settings: SettingsDep,
    active: ActiveModelDep,
    start: Annotated[str | None, Query(max_length=40)] = None,
    end: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=REVIEW_MAX)] = REVIEW_SHOWN,
    corrected: Annotated[int | None, Query(gt=0, le=MAX_BUG_ID)] = None,
    promoted: Annotated[str | None, Query(pattern=_VERSION.pattern)] = None,
    rolled_back: Annotated[str | None, Query(pattern=_VERSION.pattern)] = None,
) -> Response:
    """The page: the briefing of ``start``..``end`` (days; the last half year by default), the
    review queue (``limit`` incidents) and the model versions. A period that cannot be used is
    said on the page (422), which shows the default one instead."""
    period, error = read_period(start, end)
    outcome = Outcome(notice=_notice(session=session, active=active, corrected=corrected,
                                     promoted=promoted, rolled_back=rolled_back), error=error)
    return render_page(request, session=session, taxonomy=taxonomy, settings=settings,
                       active=active, period=period, outcome=outcome,
                       status_code=422 if error else 200, limit=limit)


@router.get("/ui/style.css")
def stylesheet() -> FileResponse:
    return FileResponse(STYLESHEET, media_type="text/css",
                        headers={"Cache-Control": "public, max-age=300"})


def _back(period: Period, anchor: str, **done: object) -> RedirectResponse:
    return RedirectResponse(f"/?{period.query(**done)}#{anchor}", status_code=303)


def _split_tags(text: str) -> list[str]:
    """Tags as typed: separated by blanks or commas; "none" alone for no incident type. A field
    left empty is refused: it stored "no incident type", a verdict no one typed, which takes the
    incident out of every row."""
    tags = [t for t in re.split(r"[\s,]+", text.strip()) if t]
    if not tags:
        raise InvalidIncident("tags: type the incident's type tags, or none for no incident type",
                              field="tags")
    return [] if [t.lower() for t in tags] == ["none"] else tags


FormText = Annotated[str, Form()]


@router.post("/ui/corrections", dependencies=[READERS])
def correct_from_page(request: Request, session: SessionDep, taxonomy: TaxonomyDep,
                      settings: SettingsDep, active: ActiveModelDep,
                      bug_id: FormText = "", tags: FormText = "", note: FormText = "", token: FormText = "",
                      start: FormText = "", end: FormText = "") -> Response:
    """Store a maintainer's correction of an incident's tags, as ``POST /corrections`` does."""
    period, _ = read_period(start, end)
    typed = {"tags": tags[:MAX_TAGS_TYPED], "note": note[:MAX_NOTE_CHARS]}
    bug = bug_id_of(bug_id)
    outcome = Outcome(bug_id=bug, typed=typed)
    try:
        maintainer = maintainer_of(token, session, missing=_TOKEN_MISSING)
        if bug is None:
            raise InvalidIncident(f"bug_id: {bug_id[:40]!r} is not a bug number", field="bug_id")
        if len(tags) > MAX_TAGS_TYPED:
            raise InvalidIncident(f"tags: at most {MAX_TAGS_TYPED} characters", field="tags")
        loaded = active.current()
        # A form sent twice (a double click, a reload) stores one correction: the rule of
        # POST /corrections and `corrections import`; the page says the correction counts alike.
        corrected = record_correction(
            session=session, taxonomy=taxonomy, bug_id=bug, tags=_split_tags(tags), note=note,
            author=maintainer.name, token_id=maintainer.token_id,
            active_version=loaded.version if loaded else active.named(), loaded=loaded)
        session.commit()
    except HTTPException as exc:
        outcome.error = f"Nothing stored: {exc.detail}."
        return _failed(request, session, taxonomy, settings, active, period, outcome, exc.status_code)
    except InvalidIncident as exc:
        session.rollback()
        outcome.error = f"Nothing stored: {exc}."
        return _failed(request, session, taxonomy, settings, active, period, outcome, 422)
    logger.info("bug %d corrected from the page by %s%s", bug, maintainer.name,
                "" if corrected.stored else " (already its correction: nothing new stored)")
    return _back(period, "review", corrected=bug)


def _failed(request: Request, session: Session, taxonomy: Taxonomy, settings: ServiceSettings,
            active: ActiveModel, period: Period, outcome: Outcome, status_code: int) -> Response:
    return render_page(request, session=session, taxonomy=taxonomy, settings=settings,
                       active=active, period=period, outcome=outcome, status_code=status_code)


def _activate(request: Request, session: Session, taxonomy: Taxonomy, settings: ServiceSettings,
              active: ActiveModel, token: str, start: str, end: str, *, version: str | None
              ) -> Response:
    """Promote ``version``, or roll back when it is None, as `incidents models promote` /
    `rollback` do; the service follows at once."""
    period, _ = read_period(start, end)
    outcome = Outcome()
    try:
        maintainer: Maintainer = maintainer_of(token, session, missing=_TOKEN_MISSING)
        if version is not None:
            if not _VERSION.match(version):
                raise ModelNotFound(f"no model version {version[:40]!r}")
            active.registry.promote(version, reason="promoted on the page", by=maintainer.name)
            done = {"promoted": version}
        else:
            done = {"rolled_back": active.registry.rollback(by=maintainer.name)}
    except HTTPException as exc:
        outcome.error = f"Nothing changed: {exc.detail}."
        return _failed(request, session, taxonomy, settings, active, period, outcome, exc.status_code)
    except ModelError as exc:
        outcome.error = f"Nothing changed: {without_paths(str(exc), settings.models_dir)}."
        status = 404 if isinstance(exc, ModelNotFound) and version is not None else 409
        return _failed(request, session, taxonomy, settings, active, period, outcome, status)
    active.refresh()
    logger.info("%s from the page by %s", ", ".join(f"{k} {v}" for k, v in done.items()),
                maintainer.name)
    return _back(period, "models", **done)


@router.post("/ui/models/promote", dependencies=[READERS])
def promote_from_page(request: Request, session: SessionDep, taxonomy: TaxonomyDep,
                      settings: SettingsDep, active: ActiveModelDep, version: FormText = "",
                      token: FormText = "", start: FormText = "", end: FormText = "") -> Response:
    """Make a version active (checked to load first), as `incidents models promote` does."""
    return _activate(request, session, taxonomy, settings, active, token, start, end,
                     version=version.strip())


@router.post("/ui/models/rollback", dependencies=[READERS])
def rollback_from_page(request: Request, session: SessionDep, taxonomy: TaxonomyDep,
                       settings: SettingsDep, active: ActiveModelDep, token: FormText = "",
                       start: FormText = "", end: FormText = "") -> Response:
    """Make the previously active version active again, as `incidents models rollback` does."""
    return _activate(request, session, taxonomy, settings, active, token, start, end,
                     version=None)
