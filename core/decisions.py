"""Recorded retraining decisions (``model_decisions``), read back: plain store functions.

``training.retrain.retrain`` writes one row per decision; `incidents models decisions`, `incidents
models list` and ``GET /models/decisions`` read them here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .tables import ModelDecisionRow


def list_decisions(*, session: Session, limit: int = 100,
                   offset: int = 0) -> tuple[list[ModelDecisionRow], int]:
    """Retraining decisions, newest first, and how many there are in all."""
    rows = session.scalars(select(ModelDecisionRow).order_by(ModelDecisionRow.id.desc())
                           .limit(limit).offset(offset))
    count = session.scalar(select(func.count()).select_from(ModelDecisionRow))
    return list(rows), int(count or 0)


def decisions_of(*, session: Session, versions: Iterable[str]) -> dict[str, ModelDecisionRow]:
    """The decision that made each of ``versions`` (its challenger), for those made by `retrain`."""
    wanted = list(versions)
    if not wanted:
        return {}
    rows = session.scalars(select(ModelDecisionRow).where(ModelDecisionRow.challenger.in_(wanted))
                           .order_by(ModelDecisionRow.id))
    return {row.challenger: row for row in rows if row.challenger is not None}  # the latest, should a name come back


def active_after(row: ModelDecisionRow) -> str | None:
    """The version active once the decision was taken: the challenger when promoted."""
    return row.challenger if row.promoted else row.active_before


def decision_as_dict(row: ModelDecisionRow) -> dict[str, Any]:
    """A recorded decision's fields (those of ``GET /models/decisions``), ``active_after`` and the
    comparison window's size (``holdout_size``, 0 when nothing was compared) included."""
    return {
        "id": row.id,
        "created_at": row.created_at,
        "challenger": row.challenger,
        "active_before": row.active_before,
        "active_after": active_after(row),
        "promoted": row.promoted,
        "forced": row.forced,
        "tolerance": row.tolerance,
        "reason": row.reason,
        "holdout_size": int((row.challenger_metrics or {}).get("holdout_size") or 0),
        "challenger_metrics": row.challenger_metrics,
        "active_metrics": row.active_metrics,
        "requested_by": row.requested_by,
    }
