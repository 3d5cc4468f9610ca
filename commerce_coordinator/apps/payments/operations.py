"""What operators may do to webhook events, as plain functions: the console (and commands) call these.

A replay is core's `item.requeue(actor, reason, action="replay")` through `inbox.replay`: an `operator`
span of its own trace, the event's processing published in it, and a `core.WorkAudit` row, returned here.
"""

from __future__ import annotations

from commerce_coordinator.apps.core.models import WorkAudit

from . import inbox
from .models import WebhookEvent

ITEM_TYPE = WebhookEvent._meta.label_lower


def replay_event(event_pk: int, *, actor: str, reason: str) -> WorkAudit | None:
    """Replay one stored event, processed and ignored ones too (an operator asked); one being processed right
    now is left alone (None). Raises WebhookEvent.DoesNotExist, or ValueError without a reason."""
    if not str(reason or "").strip():
        raise ValueError("an operator action needs a reason")
    event = WebhookEvent.objects.get(pk=event_pk)
    if event.status == WebhookEvent.Status.RUNNING:
        return None
    before = WorkAudit.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    inbox.replay([event], force=True, actor=str(actor), reason=str(reason))
    return audit_of_events([event.pk]).filter(pk__gt=before).order_by("pk").first()


def audit_of_events(event_pks):
    """The operator audit of these events, newest first."""
    return WorkAudit.objects.filter(item_type=ITEM_TYPE, item_id__in=[str(pk) for pk in event_pks])
