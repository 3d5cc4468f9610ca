"""What operators may do to webhook events, as plain functions: the console (and commands) call these.

A replay runs under an `operator` span and leaves a `core.WorkAudit` row, as core's durable items do on
`requeue`; the event's processing itself is recorded in the event's own trace, as at its first delivery.
"""

from __future__ import annotations

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.models import WorkAudit

from . import inbox
from .models import WebhookEvent

ITEM_TYPE = WebhookEvent._meta.label_lower


def replay_event(event_pk: int, *, actor: str, reason: str) -> WorkAudit:
    """Replay one stored event, processed and ignored ones too (an operator asked); one being processed right
    now is left alone. Raises WebhookEvent.DoesNotExist, or ValueError without a reason."""
    if not str(reason or "").strip():
        raise ValueError("an operator action needs a reason")
    event = WebhookEvent.objects.get(pk=event_pk)
    label = f"{event.provider} event {event.event_id} ({event.type})"
    keys = {"event_id": event.event_id, "order_number": event.order_number, "payment_id": event.payment_id}
    with tracing.span("operator", f"replay {label}", str(actor), **keys):
        if event.status == WebhookEvent.Status.PROCESSING:
            outcome = "skipped: being processed now"
        else:
            [(_, what)] = inbox.replay([event], force=True)
            outcome = f"{what}; processing recorded in trace {event.trace_id}"
        return WorkAudit.objects.create(
            item_type=ITEM_TYPE,
            item_id=str(event.pk),
            item_label=label[:255],
            action="replay",
            actor=str(actor)[:150],
            reason=str(reason),
            outcome=outcome,
            trace_id=tracing.current_trace_id() or "",
        )


def audit_of_events(event_pks):
    """The operator audit of these events, newest first."""
    return WorkAudit.objects.filter(item_type=ITEM_TYPE, item_id__in=[str(pk) for pk in event_pks])
