"""Classifying incidents with a loaded model version: the one path the CLI and the service share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from classifier import Incident, Taxonomy, incidents_frame

from .corrections import (
    Corrected,
    ModelSaid,
    add_correction,
    check_correction,
    counting_repeat,
    lock_incident,
)
from .registry import LoadedModel
from .store import NewPrediction, row_incident
from .tables import CorrectionRow, IncidentRow, PredictionRow


@dataclass(frozen=True)
class Classification:
    """The answer for one incident."""

    id: int | None
    tags: list[str]
    categories: list[str]
    scores: dict[str, float]
    needs_review: bool
    review_reason: str | None  # why a person should look (None when not flagged)
    confidence: float
    model_version: str
    explanation: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Why a bug that would have been stored was not (another component's, or a stale copy).
    not_stored_because: str | None = None

    def as_dict(self, *, explanation: bool = True) -> dict[str, Any]:
        """The fields by name; their values are shared, not copied (``dataclasses.asdict``'s
        deep copy was a tenth of a ``/classify/batch`` request)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if not explanation:
            out.pop("explanation")
        if self.not_stored_because is None:  # said only by a route that could have stored it
            out.pop("not_stored_because")
        return out

    def prediction(self, incident_id: int) -> NewPrediction:
        """This answer as :func:`core.store.save_predictions` stores it for ``incident_id``."""
        return NewPrediction(incident_id, self.model_version, self.tags, self.scores,
                             self.needs_review, self.confidence, self.review_reason)


def classify(loaded: LoadedModel, incidents: Sequence[Incident], taxonomy: Taxonomy, *,
             explain: bool = False, top_words: int = 5) -> list[Classification]:
    """Tags, categories, scores and the review flag of each incident (and why, if asked)."""
    if not incidents:
        return []
    X = incidents_frame(incidents)
    reasons: list[dict]
    if explain:
        decisions, reasons = loaded.model.decide_and_explain(X, top=top_words)
    else:
        decisions, reasons = loaded.model.decide(X), [{}] * len(incidents)
    return [
        Classification(
            id=incident.id,
            tags=list(d.tags),
            categories=taxonomy.categories_of(d.tags),
            scores=d.scores,
            needs_review=d.needs_review,
            review_reason=d.review_reason,
            confidence=d.confidence,
            model_version=loaded.version,
            explanation=_terms(why),
        )
        for incident, d, why in zip(incidents, decisions, reasons, strict=True)
    ]


def _terms(why: dict[str, list[tuple[str, float]]]) -> dict[str, list[dict[str, Any]]]:
    return {tag: [{"term": w, "weight": v} for w, v in words] for tag, words in why.items()}


def explain_tags(loaded: LoadedModel, incidents: Sequence[Incident],
                 tags: Sequence[Sequence[str]], *, top_words: int = 5
                 ) -> list[dict[str, list[dict[str, Any]]]]:
    """The words behind given ``tags`` of each incident (a stored prediction's, say), in the
    shape of :attr:`Classification.explanation`: the explanation is not stored with a
    prediction, so it is computed again with the model that made it."""
    if not incidents:
        return []
    reasons = loaded.model.explain(incidents_frame(incidents), [list(t) for t in tags],
                                   top=top_words)
    return [_terms(why) for why in reasons]


def model_said(*, session: Session, bug_id: int, active_version: str | None,
               loaded: LoadedModel | None, taxonomy: Taxonomy) -> ModelSaid | None:
    """What ``active_version`` says of a stored incident: its stored prediction, else (when that
    version is ``loaded``) its answer now; None when neither is to be had."""
    if active_version is None:
        return None
    row = session.scalar(select(PredictionRow).where(PredictionRow.incident_id == bug_id,
                                                     PredictionRow.model_version == active_version))
    if row is not None:
        return ModelSaid(active_version, list(row.tags), dict(row.scores))
    incident = session.get(IncidentRow, bug_id)
    if loaded is None or loaded.version != active_version or incident is None:
        return None
    result = classify(loaded, [row_incident(incident)], taxonomy)[0]
    return ModelSaid(active_version, list(result.tags), dict(result.scores))


def correct_incident(*, session: Session, taxonomy: Taxonomy, bug_id: Any, tags: Any,
                     note: Any = "", author: str, token_id: int | None = None,
                     active_version: str | None = None,
                     loaded: LoadedModel | None = None) -> CorrectionRow:
    """The correction that counts for the bug after :func:`record_correction`: the one it
    stored, or the same one by the same author that already counted (nothing stored)."""
    return record_correction(session=session, taxonomy=taxonomy, bug_id=bug_id, tags=tags,
                             note=note, author=author, token_id=token_id,
                             active_version=active_version, loaded=loaded).row


def record_correction(*, session: Session, taxonomy: Taxonomy, bug_id: Any, tags: Any,
                      note: Any = "", author: str, token_id: int | None = None,
                      active_version: str | None = None,
                      loaded: LoadedModel | None = None) -> Corrected:
    """Check and store a maintainer's correction with what the active model said of the incident
    then: its stored prediction, else, when the active model is ``loaded``, its answer now.

    Nothing is stored twice (``stored`` False, the row that counts given back) when the
    correction that counts for the bug is already this one by ``author``
    (:func:`core.corrections.counting_repeat`, the rule of `corrections import`, the API and the
    page alike). The rule is asked again with the incident locked (:func:`lock_incident`, held
    until the caller's transaction ends), so two identical corrections at once store one.
    InvalidIncident names the field of a bad correction; the caller's transaction commits.
    """
    if loaded is not None and active_version is None:
        active_version = loaded.version
    checked = check_correction(session=session, taxonomy=taxonomy, bug_id=bug_id, tags=tags,
                               note=note)
    # Asked first without the lock: a repeat takes no lock and asks no model.
    repeat = counting_repeat(session=session, correction=checked, author=author)
    if repeat is not None:
        return Corrected(repeat, stored=False)
    said = model_said(session=session, bug_id=checked.bug_id, active_version=active_version,
                      loaded=loaded, taxonomy=taxonomy)
    lock_incident(session=session, bug_id=checked.bug_id)
    repeat = counting_repeat(session=session, correction=checked, author=author)
    if repeat is not None:  # stored by another transaction since the first look
        return Corrected(repeat, stored=False)
    return Corrected(add_correction(session=session, correction=checked, author=author,
                                    token_id=token_id, model_said=said), stored=True)
