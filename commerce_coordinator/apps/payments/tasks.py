"""Celery tasks of the payments app: processing inbox events (one, or a batch from the relay), and pruning.

Both processing tasks run an event through core's ``durable.run`` (claim under the task's id, work in a
traced span, finish / retry / dead-letter). They go to the ``PAYMENTS_CELERY_QUEUE`` queue in the shipped
settings (CELERY_TASK_ROUTES), so webhooks never wait behind fulfillment.
"""

import logging
import uuid

from celery import shared_task
from django.conf import settings

from commerce_coordinator.apps.core import durable, follow_ups, tracing

from . import inbox, relay
from .models import WebhookEvent
from .processing import process_event

logger = logging.getLogger(__name__)


# max_retries=None: PAYMENTS_RETRY_SCHEDULE (core's policy) decides when to stop, not Celery's default of 3.
@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    time_limit=settings.PAYMENTS_TASK_TIME_LIMIT,
)
def process_webhook_event(self, event_pk: int) -> dict:
    """Process one stored webhook event; idempotent and safe to deliver twice (the claim decides).

    A message without trace headers (published by hand, or by an older release) joins the event's own trace."""
    with follow_ups.in_place(self):  # an order's lines on this task's own queue run here after it (ADR 0074)
        if tracing.current() is not None:
            return durable.run(WebhookEvent, event_pk, self, process_event)
        trace_id = WebhookEvent.objects.filter(pk=event_pk).values_list("trace_id", flat=True).first()
        with tracing.trace(trace_id=trace_id or None):
            return durable.run(WebhookEvent, event_pk, self, process_event)


class HandedOver(Exception):
    """An event of a batch whose retry was handed to its own task (the batch goes on)."""


class _BatchRun:
    """What ``durable.run`` sees as the task for one event of a batch: the batch's id claims the event; a
    retry is handed to a ``process_webhook_event`` task of the event's own (a fresh claim token, countdown)."""

    def __init__(self, task, pk: int):
        self.task, self.pk = task, pk

    @property
    def request(self):
        return self.task.request

    def retry(self, countdown=None, exc=None, **options):
        token = uuid.uuid4().hex
        WebhookEvent.objects.filter(pk=self.pk, status=WebhookEvent.Status.RETRY).update(claim_token=token)
        ctx = tracing.current()
        headers = ctx.headers(None) if ctx is not None else {}
        durable.publish(WebhookEvent, self.pk, token, headers, countdown)
        return HandedOver(f"retry in {countdown:.1f} s as task {token}: {exc}")


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=settings.PAYMENTS_TASK_TIME_LIMIT,
    name=relay.BATCH_TASK,
)
def process_webhook_events(self, events: list) -> dict:
    """Process a batch of stored events published by the relay: ``[[pk, trace_id, sampled], ...]``.

    Each event is claimed and processed on its own, under its own trace (a ``task`` node there names this
    task), exactly as ``process_webhook_event`` would; the batch's id is the claim token, so a message
    redelivered after a lost worker retakes the event that was in the middle at once (core's claim rule)
    and goes on with the rest, while finished events are not claimable. A retryable failure is handed to
    the event's own task and does not stop the batch; any other failure is recorded on its event.
    """
    # What the events store for this queue runs after all of them (ADR 0074); the traces of both are written
    # together at the end, after the enrollments (two INSERTs for the batch).
    with tracing.deferred_writes(), follow_ups.in_place(self):
        return _process_batch(self, events)


def _process_batch(task, events: list) -> dict:
    """The events of a batch one after another (process_webhook_events)."""
    outcomes = {}
    with inbox.refunds_woken_together():  # one look-up for the batch's payments, after them
        for pk, trace_id, sampled in events:
            outcomes[pk] = _process_one(task, pk, trace_id, sampled)
    return outcomes


def _process_one(task, pk: int, trace_id: str, sampled) -> str:
    """One event of a batch, under its own trace, with a ``task`` node naming the batch's task."""
    with tracing.trace(trace_id=trace_id or None, sampled=bool(sampled)):
        with tracing.span("task", task.name) as node:
            if node is not None:
                node.task_id = task.request.id
            try:
                outcome = durable.run(WebhookEvent, pk, _BatchRun(task, pk), process_event)
            except HandedOver as exc:
                outcome = str(exc)
                tracing.set_outcome(tracing.RETRY, outcome)
            except Exception as exc:  # recorded on the event by durable.run; the batch goes on
                logger.exception("webhook event %s: processing failed in batch %s", pk, task.request.id)
                outcome = f"error: {exc!r}"
                tracing.set_outcome(tracing.ERROR, outcome)
            if node is not None:
                node.result = tracing.short_repr(outcome)
    return outcome


@shared_task
def sweep_webhook_events() -> dict:
    """Deprecated (ADR 0015): core's generic sweep (``core.sweep_durable_work``) covers webhook events;
    kept so that a beat schedule naming this task still recovers them."""
    return durable.sweep()


@shared_task(acks_late=True)
def prune_webhook_events() -> int:
    """Celery beat: delete finished events older than PAYMENTS_EVENT_RETENTION_DAYS (as ``prune_webhook_events``)."""
    return inbox.prune(settings.PAYMENTS_EVENT_RETENTION_DAYS)
