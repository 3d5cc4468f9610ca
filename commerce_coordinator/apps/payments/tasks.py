"""Celery tasks of the payments app: processing inbox events (one, or a batch from the relay), and the sweep."""

import logging
import traceback

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.signals import ERROR, OK

from . import inbox
from .processing import Attempt, RetryLater, process

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(RetryLater,),
    retry_backoff=settings.PAYMENTS_RETRY_BACKOFF,
    retry_backoff_max=settings.PAYMENTS_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=settings.PAYMENTS_MAX_RETRIES,
    time_limit=settings.PAYMENTS_TASK_TIME_LIMIT,
)
def process_webhook_event(self, event_pk: int) -> str:
    """Process one stored webhook event (see processing.process); idempotent and safe to deliver twice."""
    attempt = Attempt(
        task_id=self.request.id or "",
        retries=self.request.retries,
        max_retries=self.max_retries if self.max_retries is not None else 0,
        eager=bool(self.request.is_eager),
    )
    return process(event_pk, attempt)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=settings.PAYMENTS_TASK_TIME_LIMIT,
)
def process_webhook_events(self, events: list) -> dict:
    """Process a batch of stored events published by the relay: ``[[pk, trace_id, sampled], ...]``.

    Each event is claimed and processed on its own, under its own trace (a ``task`` node there names this
    task), exactly as ``process_webhook_event`` would; the task's id is the claim's id, so a message
    redelivered after a lost worker takes back the event that was in the middle and goes on with the rest,
    while events already finished are not claimable. A retryable failure is handed to a
    ``process_webhook_event`` task (first retry, with Celery's exponential backoff and jitter); any other
    failure is recorded on its event and does not stop the batch.
    """
    task_id = self.request.id or ""
    outcomes = {}
    for pk, trace_id, sampled in events:
        attempt = Attempt(task_id=task_id, retries=0, max_retries=settings.PAYMENTS_MAX_RETRIES)
        with tracing.trace(trace_id=trace_id or None, sampled=bool(sampled)) as ctx:
            node = ctx.open_node("task", self.name, status="running", task_id=task_id) if ctx.sampled else None
            saved_parent = ctx.parent_id
            if node is not None:
                ctx.parent_id = node.id
            try:
                outcome = process(pk, attempt)
                status = OK
            except RetryLater as exc:
                outcome, status = _retry_alone(pk, ctx, exc), "retry"
                if node is not None:
                    node.fail(exc, "")
            except Exception as exc:  # recorded on the event (processing.process); the batch goes on
                logger.exception("webhook event %s: processing failed in batch %s", pk, task_id)
                outcome, status = f"error: {exc!r}", ERROR
                if node is not None:
                    node.fail(exc, traceback.format_exc())
            finally:
                ctx.parent_id = saved_parent
            if node is not None:
                node.result = tracing.short_repr(outcome)
                node.finish(status)
        outcomes[pk] = outcome
    return outcomes


def _retry_alone(pk: int, ctx, exc: RetryLater) -> str:
    countdown = get_exponential_backoff_interval(
        factor=settings.PAYMENTS_RETRY_BACKOFF, retries=0, maximum=settings.PAYMENTS_RETRY_BACKOFF_MAX, full_jitter=True
    )
    try:
        process_webhook_event.apply_async(
            args=[pk], headers=ctx.headers(ctx.parent_id), countdown=countdown, retries=1, retry=False
        )
    except Exception:  # the event is failed with next_attempt_at set: the sweep retries it
        logger.exception("webhook event %s: could not enqueue its retry; the sweep will", pk)
    return f"retry in {countdown} s: {exc}"


@shared_task
def sweep_webhook_events() -> int:
    """Celery beat: re-enqueue events left in received/processing (see inbox.sweep)."""
    return len(inbox.sweep())
