"""Celery tasks of the payments app: processing one inbox event, and the periodic sweep."""

from celery import shared_task
from django.conf import settings

from . import inbox
from .processing import Attempt, RetryLater, process


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


@shared_task
def sweep_webhook_events() -> int:
    """Celery beat: re-enqueue events left in received/processing (see inbox.sweep)."""
    return len(inbox.sweep())
