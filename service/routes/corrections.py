"""POST /corrections (maintainers) and GET /corrections: maintainers' verdicts on incident tags."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from classifier import Taxonomy
from core.corrections import list_corrections, record_correction
from core.store import MAX_BUG_ID
from core.tables import CorrectionRow

from ..auth import AUTH_ERRORS, MaintainerDep, ReaderDep
from ..config import MAX_OFFSET
from ..deps import ActiveVersionDep, OptionalModelDep, SessionDep, TaxonomyDep
from ..schemas import CorrectionCreate, CorrectionCreated, CorrectionsStored, CorrectionStored

router = APIRouter(prefix="/corrections", tags=["corrections"])

def _fields(row: CorrectionRow, taxonomy: Taxonomy) -> dict[str, Any]:
    return {"id": row.id, "bug_id": row.incident_id, "tags": list(row.tags),
            "categories": taxonomy.categories_of(row.tags), "note": row.note,
            "author": row.author, "created_at": row.created_at,
            "model_version": row.model_version, "model_tags": row.model_tags,
            "model_scores": row.model_scores}


@router.post("", status_code=201, response_model=CorrectionCreated, responses={
    **AUTH_ERRORS,
    201: {"description": "The correction was stored (`stored` true)."},
    200: {"model": CorrectionCreated, "description": "Nothing new stored: the correction that "
          "counts for the bug is already this one (the same tags, note and author); it is "
          "answered, with `stored` false."}})
def create_correction(correction: CorrectionCreate, maintainer: MaintainerDep,
                      session: SessionDep, taxonomy: TaxonomyDep,
                      model: OptionalModelDep, active_version: ActiveVersionDep,
                      response: Response) -> CorrectionCreated:
    """Correct a stored incident's type tags; the token's name is recorded as the author.

    The correction records what the active model said of the incident then (its stored
    prediction, else the model is asked now; nothing when no model is loaded). A later
    correction of the same bug supersedes this one; both stay in the history.

    Nothing is stored twice, by the rule of `incidents corrections import`: when the correction
    that counts for the bug (its latest) is already this one by the same author (the same
    canonical tags and note), the answer is 200 with that correction and `stored` false; a new
    correction is 201 with `stored` true. A retried request, or two identical ones at once (the
    incident is locked while the rule is asked and the correction stored), store one correction.
    Going back to earlier tags after another correction is stored: it is a verdict of its own.
    """
    corrected = record_correction(session=session, taxonomy=taxonomy, bug_id=correction.bug_id,
                                  tags=correction.tags, note=correction.note,
                                  author=maintainer.name, token_id=maintainer.token_id,
                                  active_version=active_version, loaded=model)
    session.commit()
    if not corrected.stored:
        response.status_code = 200
    return CorrectionCreated(**_fields(corrected.row, taxonomy), stored=corrected.stored)


@router.get("", response_model=CorrectionsStored)
def read_corrections(
    session: SessionDep, taxonomy: TaxonomyDep, reader: ReaderDep,
    bug_id: Annotated[int | None, Query(gt=0, le=MAX_BUG_ID, description="Only this bug's.")]
    = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Corrections skipped.")] = 0,
) -> CorrectionsStored:
    """Corrections, newest first, with how many match in all."""
    rows, count = list_corrections(session=session, bug_id=bug_id, limit=limit, offset=offset)
    return CorrectionsStored(data=[CorrectionStored(**_fields(row, taxonomy)) for row in rows],
                             count=count)
