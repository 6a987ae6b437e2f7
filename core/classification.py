"""Classifying incidents with a loaded model version: the one path the CLI and the service share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from classifier import Incident, Taxonomy, incidents_frame

from .registry import LoadedModel


@dataclass(frozen=True)
class Classification:
    """The answer for one incident."""

    id: int | None
    tags: list[str]
    categories: list[str]
    scores: dict[str, float]
    needs_review: bool
    confidence: float
    model_version: str
    explanation: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def as_dict(self, *, explanation: bool = True) -> dict[str, Any]:
        out = asdict(self)
        if not explanation:
            out.pop("explanation")
        return out


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
            confidence=d.confidence,
            model_version=loaded.version,
            explanation={tag: [{"term": w, "weight": v} for w, v in words]
                         for tag, words in why.items()},
        )
        for incident, d, why in zip(incidents, decisions, reasons, strict=True)
    ]
