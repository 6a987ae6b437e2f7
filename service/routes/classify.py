"""POST /classify and /classify/batch: classify bugs with the active model; store those with ids."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from classifier import InvalidIncident, Taxonomy
from core.bugzilla import whiteboard_tags
from core.classification import Classification, classify
from core.registry import LoadedModel
from core.store import save_prediction, stored_records, upsert_bugs

from ..auth import READERS
from ..deps import MetricsDep, ModelDep, SessionDep, SettingsDep, TaxonomyDep
from ..errors import invalid
from ..observability import Metrics
from ..schemas import (
    EXAMPLE_BUG,
    EXAMPLE_NEW_BUG,
    ClassificationPublic,
    ClassificationsPublic,
    IncidentClassify,
    IncidentsClassify,
    Message,
)

logger = logging.getLogger("service.classify")
router = APIRouter(prefix="/classify", tags=["classify"], dependencies=[READERS])

_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "The request body is larger than INCIDENTS_MAX_BODY_BYTES."},
    503: {"model": Message, "description": "No model version is active (train one with "
                                          "`incidents train`), or the store is unreachable."},
}


def _check_whiteboard(bug: IncidentClassify, taxonomy: Taxonomy, loc: tuple[Any, ...]) -> None:
    """Refuse a whiteboard tag too long for the store (before anything is classified), with
    the store's own check, answered at the bug's place in the body."""
    try:
        whiteboard_tags(bug.whiteboard or "", taxonomy)
    except InvalidIncident as exc:
        raise invalid((*loc, "whiteboard"), str(exc), "string_too_long") from None


def _store(keyed: Sequence[tuple[int, IncidentClassify, Classification]], *, session: Session,
           taxonomy: Taxonomy, metrics: Metrics) -> None:
    """Upsert the bugs and their predictions in one transaction: all of them or none.

    Each bug is stored as sent over its stored record (``IncidentClassify.record``).
    """
    ids = [bug_id for bug_id, _, _ in keyed]
    for attempt in (1, 2):
        try:
            stored = stored_records(session=session, ids=ids)
            records = [bug.record(taxonomy, stored.get(bug_id)) for bug_id, bug, _ in keyed]
            upsert_bugs(session=session, records=records)
            for bug_id, _, result in keyed:
                save_prediction(session=session, incident_id=bug_id,
                                model_version=result.model_version, tags=result.tags,
                                scores=result.scores, needs_review=result.needs_review,
                                confidence=result.confidence)
            session.commit()
        except IntegrityError:
            # Another request stored the same new bug between our read and our write: read
            # again (it is stored now) and write over it.
            session.rollback()
            if attempt == 2:
                raise
            logger.info("bugs %s were written concurrently; trying once more", ids)
        else:
            metrics.predictions_stored.inc(len(keyed))
            return


def _classify(bugs: Sequence[IncidentClassify], *, loaded: LoadedModel, taxonomy: Taxonomy,
              session: Session, metrics: Metrics) -> list[ClassificationPublic]:
    results = classify(loaded, [bug.incident() for bug in bugs], taxonomy, explain=True)
    metrics.classified.labels(model_version=loaded.version).inc(len(bugs))
    keyed = [(bug.id, bug, result) for bug, result in zip(bugs, results, strict=True)
             if bug.id is not None]
    if keyed:
        _store(keyed, session=session, taxonomy=taxonomy, metrics=metrics)
    return [ClassificationPublic.model_validate({**result.as_dict(), "stored": bug.id is not None})
            for bug, result in zip(bugs, results, strict=True)]


@router.post("", response_model=ClassificationPublic, responses=_ERRORS)
def classify_incident(
    bug: Annotated[IncidentClassify, Body(openapi_examples={
        "stored": {"summary": "A bug with an id (stored with its prediction)",
                   "value": EXAMPLE_BUG},
        "not stored": {"summary": "A bug not yet filed (no id: nothing is stored)",
                       "value": EXAMPLE_NEW_BUG},
    })],
    model: ModelDep, taxonomy: TaxonomyDep, session: SessionDep, metrics: MetricsDep,
) -> ClassificationPublic:
    """Classify one bug: its incident type tags, briefing categories, scores and why.

    When the bug has an `id`, the bug and the prediction are stored (upsert by bug id; the same
    bug classified again by the same model version replaces its prediction, it does not add
    one). Fields left out of the body keep their stored values: a bug sent without its
    `whiteboard` keeps the Bugzilla tags a sync stored.
    """
    _check_whiteboard(bug, taxonomy, ("body",))
    return _classify([bug], loaded=model, taxonomy=taxonomy, session=session,
                     metrics=metrics)[0]


@router.post("/batch", response_model=ClassificationsPublic, responses=_ERRORS)
def classify_incidents(
    batch: Annotated[IncidentsClassify, Body(openapi_examples={
        "two bugs": {"summary": "One bug with an id, one without",
                     "value": {"bugs": [EXAMPLE_BUG, EXAMPLE_NEW_BUG]}},
    })],
    model: ModelDep, taxonomy: TaxonomyDep, session: SessionDep, metrics: MetricsDep,
    settings: SettingsDep,
) -> ClassificationsPublic:
    """Classify up to INCIDENTS_MAX_BATCH bugs (100 by default), answered in the order sent.

    The body has the shape of Bugzilla's `GET /rest/bug` answer, `{"bugs": [...]}`. Bugs with
    ids are stored as by `POST /classify`, all in one transaction: when one bug is refused,
    nothing is stored.
    """
    if len(batch.bugs) > settings.max_batch:
        raise invalid(("body", "bugs"), f"at most {settings.max_batch} bugs a batch "
                      f"(INCIDENTS_MAX_BATCH), got {len(batch.bugs)}", "too_long")
    first: dict[int, int] = {}
    for index, bug in enumerate(batch.bugs):
        if bug.id is not None and first.setdefault(bug.id, index) != index:
            raise invalid(("body", "bugs", index, "id"),
                          f"bug {bug.id} is already bugs[{first[bug.id]}] of this batch")
    for index, bug in enumerate(batch.bugs):
        _check_whiteboard(bug, taxonomy, ("body", "bugs", index))
    results = _classify(batch.bugs, loaded=model, taxonomy=taxonomy, session=session,
                        metrics=metrics)
    return ClassificationsPublic(data=results, count=len(results), model_version=model.version)
