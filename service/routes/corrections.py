"""POST /corrections (maintainers) and GET /corrections: maintainers' verdicts on incident tags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from classifier import Taxonomy
from core.classification import correct_incident
from core.corrections import list_corrections
from core.store import MAX_BUG_ID
from core.tables import CorrectionRow

from ..auth import AUTH_ERRORS, MaintainerDep, ReaderDep
from ..config import MAX_OFFSET
from ..deps import ActiveVersionDep, OptionalModelDep, SessionDep, TaxonomyDep
from ..schemas import CorrectionCreate, CorrectionsStored, CorrectionStored

router = APIRouter(prefix="/corrections", tags=["corrections"])

def _stored(row: CorrectionRow, taxonomy: Taxonomy) -> CorrectionStored:
    return CorrectionStored(id=row.id, bug_id=row.incident_id, tags=list(row.tags),
                            categories=taxonomy.categories_of(row.tags), note=row.note,
                            author=row.author, created_at=row.created_at,
                            model_version=row.model_version, model_tags=row.model_tags,
                            model_scores=row.model_scores)


@router.post("", status_code=201, response_model=CorrectionStored, responses=AUTH_ERRORS)
def create_correction(correction: CorrectionCreate, maintainer: MaintainerDep,
                      session: SessionDep, taxonomy: TaxonomyDep,
                      model: OptionalModelDep,
                      active_version: ActiveVersionDep) -> CorrectionStored:
    """Correct a stored incident's type tags; the token's name is recorded as the author.

    The correction records what the active model said of the incident then (its stored
    prediction, else the model is asked now; nothing when no model is loaded). A later
    correction of the same bug supersedes this one; both stay in the history.
    """
    row = correct_incident(session=session, taxonomy=taxonomy, bug_id=correction.bug_id,
                         tags=correction.tags, note=correction.note, author=maintainer.name,
                         token_id=maintainer.token_id, active_version=active_version,
                         loaded=model)
    session.commit()
    return _stored(row, taxonomy)


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
    return CorrectionsStored(data=[_stored(row, taxonomy) for row in rows], count=count)
