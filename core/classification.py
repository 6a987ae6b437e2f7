"""Classifying incidents with a loaded model version: the one path the CLI and the service share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from classifier import Incident, Taxonomy, incidents_frame

from .registry import LoadedModel
from .store import NewPrediction


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
