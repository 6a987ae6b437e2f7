"""POST /classify and /classify/batch: classify bugs with the active model; store those with ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from classifier import InvalidIncident, Taxonomy
from core.bugzilla import whiteboard_tags
from core.registry import LoadedModel

from ..auth import READERS, Maintainer, ReaderDep
from ..batching import ClassifyBatcher
from ..deps import BatcherDep, ModelDep, SettingsDep, TaxonomyDep
from ..errors import invalid
from ..schemas import (
    EXAMPLE_BUG,
    EXAMPLE_NEW_BUG,
    ClassificationPublic,
    ClassificationsPublic,
    IncidentClassify,
    IncidentsClassify,
    Message,
)

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


async def _classify(bugs: Sequence[IncidentClassify], *, loaded: LoadedModel, taxonomy: Taxonomy,
                    batcher: ClassifyBatcher, explain: bool, reader: Maintainer | None
                    ) -> list[ClassificationPublic]:
    """Classify ``bugs``; store those with ids when a maintainer asks. Storing writes the bug
    (its whiteboard is the training labels, its times place it in the briefing), so an
    anonymous reader's bugs are classified as if they had no id, and answered with their id and
    ``stored: false``."""
    stores = reader is not None
    sent = bugs if stores else [bug.model_copy(update={"id": None}) for bug in bugs]
    results = await batcher.classify(sent, loaded=loaded, taxonomy=taxonomy, explain=explain)
    return [ClassificationPublic.model_validate(
        {**result.as_dict(), "id": bug.id,
         "stored": stores and bug.id is not None and result.not_stored_because is None,
         **({} if stores or bug.id is None else {"not_stored_because": NO_TOKEN})})
        for bug, result in zip(bugs, results, strict=True)]


#: Why a bug with an id was classified and not stored: storing needs a maintainer's token.
NO_TOKEN = ("the request carries no maintainer's token: a bug is stored (with its whiteboard, "
            "which is training data) only when a maintainer sends it")


_EXPLAIN = Query(description="Also answer the words behind each predicted tag (`explanation`); "
                             "`false` answers it empty, and is faster.")


@router.post("", response_model=ClassificationPublic, responses=_ERRORS)
async def classify_incident(
    bug: Annotated[IncidentClassify, Body(openapi_examples={
        "stored": {"summary": "A bug with an id (stored with its prediction, with a maintainer's "
                              "token)",
                   "value": EXAMPLE_BUG},
        "not stored": {"summary": "A bug not yet filed (no id: nothing is stored)",
                       "value": EXAMPLE_NEW_BUG},
    })],
    model: ModelDep, taxonomy: TaxonomyDep, batcher: BatcherDep, reader: ReaderDep,
    explain: Annotated[bool, _EXPLAIN] = True,
) -> ClassificationPublic:
    """Classify one bug: its incident type tags, briefing categories, scores and why.

    When the bug has an `id` and the request a maintainer's token, the bug and the prediction
    are stored (upsert by bug id; the same bug classified again by the same model version
    replaces its prediction, it does not add one). Without a token it is classified and not
    stored (`stored: false`): storing writes the bug's whiteboard, which is training data. Fields
    left out of the body keep their stored values: a bug sent without its `whiteboard` keeps
    the Bugzilla tags a sync stored.
    """
    _check_whiteboard(bug, taxonomy, ("body",))
    return (await _classify([bug], loaded=model, taxonomy=taxonomy, batcher=batcher,
                            explain=explain, reader=reader))[0]


@router.post("/batch", response_model=ClassificationsPublic, responses=_ERRORS)
async def classify_incidents(
    batch: Annotated[IncidentsClassify, Body(openapi_examples={
        "two bugs": {"summary": "One bug with an id, one without",
                     "value": {"bugs": [EXAMPLE_BUG, EXAMPLE_NEW_BUG]}},
    })],
    model: ModelDep, taxonomy: TaxonomyDep, batcher: BatcherDep, settings: SettingsDep,
    reader: ReaderDep, explain: Annotated[bool, _EXPLAIN] = True,
) -> ClassificationsPublic:
    """Classify up to INCIDENTS_MAX_BATCH bugs (100 by default), answered in the order sent.

    The body has the shape of Bugzilla's `GET /rest/bug` answer, `{"bugs": [...]}`. Bugs with
    ids are stored as by `POST /classify` (only with a maintainer's token), all in one
    transaction: when one bug is refused, nothing is stored.
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
    results = await _classify(batch.bugs, loaded=model, taxonomy=taxonomy, batcher=batcher,
                              explain=explain, reader=reader)
    return ClassificationsPublic(data=results, count=len(results), model_version=model.version)
