"""The model's live record: its predictions of incidents Mozilla had not tagged yet, scored
against the type tags that came later.

``upsert_bugs`` (``core.store``) writes a ``live_scores`` row when an incident's first type
tags arrive, for every stored prediction of it made before then (one per model version).
:func:`live_record` rolls over a version's last ``window`` scored incidents (by ``scored_at``):
per-tag and per-category precision and recall, category and tag micro-F1, and the category
precision of the incidents the model did not send to review. :func:`live_alarm` compares the
live category micro-F1 with the held-out one of the version's card.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from classifier import Taxonomy

from .tables import LiveScoreRow

#: Fewest scored incidents in the window for the alarm to speak.
LIVE_MIN_SCORED = 20


@dataclass(frozen=True)
class LabelFigures:
    """Precision and recall of one label; ``support`` true, ``predicted`` given, ``correct`` both."""

    precision: float
    recall: float
    support: int
    predicted: int
    correct: int


@dataclass(frozen=True)
class LiveRecord:
    """A model version's figures on its last ``scored`` scored incidents (at most ``window``).

    Figures are None when nothing was scored (or, for ``auto_precision``, nothing was left out
    of review with a category).
    """

    model_version: str
    window: int
    scored: int
    scored_in_all: int
    category_micro_f1: float | None = None
    category_micro_precision: float | None = None
    category_micro_recall: float | None = None
    tag_micro_f1: float | None = None
    not_sent_to_review: int = 0
    auto_precision: float | None = None
    first_scored_at: datetime | None = None
    last_scored_at: datetime | None = None
    categories: dict[str, LabelFigures] = field(default_factory=dict)
    tags: dict[str, LabelFigures] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("first_scored_at", "last_scored_at"):
            out[name] = out[name].isoformat() if out[name] is not None else None
        return out


def _round(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def _micro(truth: Sequence[Iterable[str]], pred: Sequence[Iterable[str]]) -> tuple[int, int, int]:
    """True positives, predicted and true label counts over every incident."""
    tp = given = true = 0
    for t, p in zip(truth, pred, strict=True):
        ts, ps = set(t), set(p)
        tp += len(ts & ps)
        given += len(ps)
        true += len(ts)
    return tp, given, true


def _prf(tp: int, given: int, true: int) -> tuple[float, float, float]:
    p = tp / given if given else 0.0
    r = tp / true if true else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _per_label(truth: Sequence[Iterable[str]], pred: Sequence[Iterable[str]],
               labels: Iterable[str]) -> dict[str, LabelFigures]:
    support: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    for t, given in zip(truth, pred, strict=True):
        ts, ps = set(t), set(given)
        support.update(ts)
        predicted.update(ps)
        correct.update(ts & ps)
    out = {}
    for label in labels:
        p, r, _ = _prf(correct[label], predicted[label], support[label])
        out[label] = LabelFigures(round(p, 4), round(r, 4), support[label], predicted[label],
                                  correct[label])
    return out


def scored_versions(*, session: Session) -> list[str]:
    """The model versions with at least one scored prediction."""
    return sorted(session.scalars(select(LiveScoreRow.model_version).distinct()),
                  key=lambda v: (len(v), v))


def live_record(*, session: Session, model_version: str, taxonomy: Taxonomy,
                last_n: int) -> LiveRecord:
    """``model_version``'s figures over its last ``last_n`` scored incidents (by ``scored_at``).

    Categories are the taxonomy's briefing rows of the tags (``categories_of``), as in the held-out
    figures of a model card; ``auto_precision`` is the category micro precision of the incidents
    not sent to review.
    """
    rows = list(session.scalars(
        select(LiveScoreRow).where(LiveScoreRow.model_version == model_version)
        .order_by(LiveScoreRow.scored_at.desc(), LiveScoreRow.id.desc()).limit(last_n)))
    in_all = session.scalar(select(func.count()).select_from(LiveScoreRow)
                            .where(LiveScoreRow.model_version == model_version)) or 0
    if not rows:
        return LiveRecord(model_version, last_n, 0, in_all)
    true_tags = [tuple(r.true_tags) for r in rows]
    pred_tags = [tuple(r.predicted_tags) for r in rows]
    true_cats = [taxonomy.categories_of(t) for t in true_tags]
    pred_cats = [taxonomy.categories_of(t) for t in pred_tags]
    cat_p, cat_r, cat_f1 = _prf(*_micro(true_cats, pred_cats))
    tag_f1 = _prf(*_micro(true_tags, pred_tags))[2]
    auto = [i for i, r in enumerate(rows) if not r.needs_review]
    auto_tp, auto_given, _ = _micro([true_cats[i] for i in auto], [pred_cats[i] for i in auto])
    tags = sorted({t for ts in true_tags + pred_tags for t in ts})
    return LiveRecord(
        model_version=model_version, window=last_n, scored=len(rows), scored_in_all=in_all,
        category_micro_f1=_round(cat_f1), category_micro_precision=_round(cat_p),
        category_micro_recall=_round(cat_r), tag_micro_f1=_round(tag_f1),
        not_sent_to_review=len(auto),
        auto_precision=_round(auto_tp / auto_given) if auto_given else None,
        first_scored_at=min(r.scored_at for r in rows), last_scored_at=max(r.scored_at for r in rows),
        categories=_per_label(true_cats, pred_cats, taxonomy.categories),
        tags=_per_label(true_tags, pred_tags, tags),
    )


def held_out_micro_f1(card: dict[str, Any]) -> float | None:
    """The held-out category micro-F1 of a model card (None when the card has none)."""
    try:
        return float(card["metrics"]["contenders"]["model"]["category_micro_f1"])
    except (KeyError, TypeError, ValueError):
        return None


def live_alarm(record: LiveRecord, card: dict[str, Any], *, margin: float,
               min_scored: int = LIVE_MIN_SCORED) -> str | None:
    """Why the live record is alarming, or None.

    It is when at least ``min_scored`` incidents are in the window and their category micro-F1
    is below the card's held-out category micro-F1 by more than ``margin``.
    """
    held_out = held_out_micro_f1(card)
    live = record.category_micro_f1
    if held_out is None or live is None or record.scored < min_scored:
        return None
    if live < held_out - margin - 1e-12:
        # How many incidents the card's figure rests on: a retrained version's is the gate's
        # window (some 30), a figure as noisy as the live one.
        try:
            on = f" (on {int(card['metrics']['test_size'])} incidents)"
        except (KeyError, TypeError, ValueError):
            on = ""
        return (f"{record.model_version}'s live category micro-F1 {live:.3f} over its last "
                f"{record.scored} scored incidents is below its held-out {held_out:.3f}{on} by "
                f"more than {margin:g}")
    return None


def live_summary(record: LiveRecord, card: dict[str, Any], *, margin: float) -> dict[str, Any]:
    """The record as a JSON object, with the card's held-out figure and the alarm (or None)."""
    return {**record.as_dict(), "held_out_category_micro_f1": held_out_micro_f1(card),
            "margin": margin, "min_scored": LIVE_MIN_SCORED,
            "alarm": live_alarm(record, card, margin=margin)}
