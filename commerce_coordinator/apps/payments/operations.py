"""What operators may do to webhook events, as plain functions: the console and commands call these."""

from __future__ import annotations

from . import inbox
from .models import WebhookEvent


def replay_event(event_pk: int, *, actor: str, reason: str) -> str:
    """Replay one stored event, processed and ignored ones too (an operator asked); returns what happened.

    An event being processed right now is left alone. Raises WebhookEvent.DoesNotExist for an unknown id.
    """
    event = WebhookEvent.objects.get(pk=event_pk)
    if event.status == WebhookEvent.Status.PROCESSING:
        return "skipped: being processed now"
    [(_, what)] = inbox.replay([event], force=True)
    return what
