"""POST /hooks/bugzilla: Bugzilla's webhook, an incident classified the moment it is filed.

Mounted only when INCIDENTS_WEBHOOK_SECRET is set. What each event does is ``core.hooks``'s.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Response

from classifier import BugzillaUnavailable, InvalidIncident
from core.hooks import apply_event

from ..auth import BUGZILLA_WEBHOOK, WEBHOOK_AUTH_ERRORS
from ..deps import ActiveModelDep, MetricsDep, SessionDep, SettingsDep, TaxonomyDep, get_model
from ..errors import field_message, invalid
from ..schemas import ClassificationPublic, HookResultPublic, Message, WebhookDelivery
from ..schemas.hooks import EXAMPLE_DELIVERY

logger = logging.getLogger("service.hooks")
router = APIRouter(prefix="/hooks", tags=["hooks"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **WEBHOOK_AUTH_ERRORS,
    202: {"model": HookResultPublic, "description": "Ignored, with the reason: another product or "
          "component, something private, or an event older than what the store holds."},
    413: {"description": "The request body is larger than INCIDENTS_MAX_BODY_BYTES."},
    502: {"model": Message, "description": "Comment 0 was not in the event and Bugzilla kept "
                                           "failing to give it; nothing was stored."},
    503: {"model": Message, "description": "The bug is to be classified and no model version is "
                                           "active, or the store is unreachable."},
}


@router.post("/bugzilla", response_model=ClassificationPublic | HookResultPublic,
             responses=_RESPONSES, dependencies=[BUGZILLA_WEBHOOK])
def bugzilla_webhook(
    delivery: Annotated[WebhookDelivery, Body(openapi_examples={
        "create": {"summary": "A bug filed (Bugzilla's shape)", "value": EXAMPLE_DELIVERY}})],
    response: Response, session: SessionDep, taxonomy: TaxonomyDep, active: ActiveModelDep,
    settings: SettingsDep, metrics: MetricsDep,
) -> ClassificationPublic | HookResultPublic:
    """Take one event of Bugzilla's webhook (product *CA Program*, component *CA Certificate
    Compliance*) and bring the store up to date with it.

    - `create`: the bug is stored and classified with the active model; the answer is what
      `POST /classify` answers. Comment 0 not in the event is fetched from Bugzilla's REST API.
    - `modify`: the stored fields are updated; a whiteboard change updates the Bugzilla type tags
      (a prediction made before the first ones is scored in the live record); a summary change
      re-classifies (then answered as `POST /classify`).
    - a comment or an attachment: the bug's stored time of the last change moves to the event's;
      comment 0 re-classifies.

    A stored bug made private is removed from the store with everything stored of it (its tags,
    predictions, live scores and corrections; `changed: ["removed"]`); comment 0 made private
    blanks the stored description and re-classifies the bug.

    Other products and components, private bugs the store does not hold, other private comments
    and attachments, and events older than what the store holds of the bug are answered 202
    `ignored` with the reason, and nothing is stored. A repeated event changes nothing.
    """
    event = delivery.bug_event()
    try:
        outcome = apply_event(session=session, event=event, taxonomy=taxonomy,
                              model=partial(get_model, active), settings=settings)
    except InvalidIncident as exc:
        raise invalid(("body", *(exc.field or "bug").split(".")), field_message(exc)) from None
    except BugzillaUnavailable as exc:
        raise HTTPException(502, f"comment 0 of bug {event.bug_id} is not in the event and "
                                 f"Bugzilla did not give it: {exc}") from None
    session.commit()
    kind = outcome.kind.value if outcome.kind is not None else event.action
    metrics.webhook_events.labels(event=kind if outcome.kind is not None else "other",
                                  outcome="applied" if outcome.applied else "ignored").inc()
    logger.info("webhook %s (%d): %s event of %s: %s", delivery.webhook_name, delivery.webhook_id,
                kind, event.time.isoformat(), outcome.reason)
    if outcome.classification is not None:
        metrics.classified.labels(model_version=outcome.classification.model_version).inc()
        if outcome.prediction_stored:
            metrics.predictions_stored.inc()
        return ClassificationPublic.model_validate({**outcome.classification.as_dict(),
                                                    "stored": True})
    if not outcome.applied:
        response.status_code = 202
    return HookResultPublic(status="applied" if outcome.applied else "ignored", event=kind,
                            bug_id=outcome.bug_id, reason=outcome.reason,
                            changed=list(outcome.changed))
