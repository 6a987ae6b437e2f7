"""The label audit: training incidents whose tags the model most disagrees with, out of fold."""

from __future__ import annotations

from typing import Any

from sklearn.base import clone

from classifier import IncidentTypeClassifier

from .dataset import Dataset


def audit_labels(dataset: Dataset, *, model: IncidentTypeClassifier, top: int = 20
                 ) -> list[dict[str, Any]]:
    """Training incidents whose tags the model most disagrees with, out of fold.

    Each incident's disagreement is the largest of: one minus the out-of-fold probability of a
    tag it carries, and the probability of a tag it lacks that passes that tag's threshold (the
    self-confidence ranking of confident learning). Nothing is dropped: a maintainer decides.
    """
    est = clone(model).fit(dataset.X, dataset.y)
    learned = list(est.classes_[:est.oof_proba_.shape[1]])
    proba = est.oof_proba_
    thresholds = est.thresholds_[:len(learned)]
    rows = []
    for i, tags in enumerate(dataset.y):
        doubted = [(t, 1.0 - proba[i, learned.index(t)]) for t in tags if t in learned]
        missing = [(t, proba[i, j]) for j, t in enumerate(learned)
                   if t not in tags and proba[i, j] >= thresholds[j]]
        worst = max(doubted + missing, key=lambda tv: tv[1], default=(None, 0.0))
        rows.append((worst[1], i, doubted, missing))
    rows.sort(key=lambda r: -r[0])
    out = []
    for score, i, doubted, missing in rows[:top]:
        suggested = [t for t, _ in missing]
        why = est.explain(dataset.X.iloc[[i]], [suggested])[0] if suggested else {}
        out.append({
            "id": int(dataset.ids[i]),
            "summary": dataset.X["summary"].iloc[i],
            "tags": list(dataset.y[i]),
            "disagreement": round(float(score), 3),
            "doubted": {t: round(float(1 - v), 3) for t, v in doubted if v >= 0.5},
            "suggested": {t: round(float(v), 3) for t, v in missing},
            "because": {t: [w for w, _ in words] for t, words in why.items()},
        })
    return out


def proposed_correction(row: dict[str, Any]) -> dict[str, Any]:
    """An audit row as a line `incidents corrections import` takes: the tags without those the
    model doubts, with those it suggests, and why in the note. A proposal for a maintainer to
    keep, edit or delete, never applied by itself."""
    tags = sorted((set(row["tags"]) - set(row["doubted"])) | set(row["suggested"]))
    why = [f"doubts {t} (p={p:.2f})" for t, p in row["doubted"].items()]
    why += [f"suggests {t} (p={p:.2f}" + (f": {', '.join(row['because'].get(t, []))})"
                                          if row["because"].get(t) else ")")
            for t, p in row["suggested"].items()]
    return {"bug_id": row["id"], "tags": tags,
            "note": f"audit-labels, was {', '.join(row['tags'])}: " + "; ".join(why)}
