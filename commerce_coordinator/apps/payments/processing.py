"""Processing one stored event: claim it, map it to its signal, send it under the event's trace, record the outcome."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.signals import ERROR

from . import inbox
from .exceptions import is_retryable
from .models import WebhookEvent
from .providers import INHERITED_FROM_PAYMENT, WebhookError, get_provider
from .redaction import redact
from .signals import SIGNALS

logger = logging.getLogger(__name__)
Status = WebhookEvent.Status


class RetryLater(Exception):
    """Raised by the task so that Celery retries it with exponential backoff and jitter."""


@dataclass
class Attempt:
    task_id: str
    retries: int = 0
    max_retries: int = 0
    eager: bool = False

    @property
    def last(self) -> bool:
        return self.retries >= self.max_retries


def process(pk: int, attempt: Attempt) -> str:
    """Process event ``pk``; returns what happened, or raises RetryLater for Celery to retry."""
    if not inbox.claim(pk, attempt.task_id):
        status = WebhookEvent.objects.filter(pk=pk).values_list("status", flat=True).first()
        logger.info("webhook event %s not claimed (status %s): another task has or had it", pk, status)
        return f"not claimed ({status})"
    event = WebhookEvent.objects.get(pk=pk)
    with tracing.trace(trace_id=event.trace_id):
        try:
            return _process_claimed(event, attempt)
        except RetryLater:
            raise
        except (OperationalError, InterfaceError) as exc:  # the database went away: worth retrying
            logger.exception("webhook event %s: database error while processing", pk)
            _try_finish(event, f"database error: {exc!r}", retry=not attempt.last)
            if attempt.last:
                raise
            raise RetryLater(repr(exc)) from exc
        except Exception as exc:  # a bug: record it (final) instead of leaving the event in "processing"
            logger.exception("webhook event %s: unexpected error while processing", pk)
            _try_finish(event, f"unexpected error: {exc!r}", retry=False)
            raise


def _try_finish(event: WebhookEvent, error: str, retry: bool) -> None:
    next_attempt_at = timezone.now() + timedelta(seconds=settings.PAYMENTS_RETRY_BACKOFF_MAX) if retry else None
    try:
        _finish(event, Status.FAILED, redact(error)[:4000], next_attempt_at=next_attempt_at)
    except Exception:  # the sweep finds it in "processing" after PAYMENTS_PROCESSING_TIMEOUT
        logger.exception("webhook event %s: could not record the failure", event.pk)


def _process_claimed(event: WebhookEvent, attempt: Attempt) -> str:
    label = f"{event.provider}:{event.event_id}"
    try:
        provider = get_provider(event.provider)
        mapped = provider.map_event(event.type, event.payload)
    except (KeyError, WebhookError) as exc:
        return _finish(event, Status.FAILED, redact(f"cannot map the event: {exc!r}"))
    if mapped is None:
        return _finish(event, Status.IGNORED, "")
    kwargs = dict(mapped.kwargs)
    if mapped.requires_payment:
        payment = (
            WebhookEvent.objects.filter(
                provider=event.provider,
                payment_id=kwargs["payment_id"],
                signal="payment_succeeded",
                status=Status.PROCESSED,
            )
            .order_by("received_at")
            .first()
        )
        if payment is None:
            return _wait_for_payment(event, attempt, kwargs["payment_id"])
        paid = get_provider(payment.provider).map_event(payment.type, payment.payload).kwargs
        for name in INHERITED_FROM_PAYMENT:
            if kwargs.get(name) is None:
                kwargs[name] = paid[name]
    signal = SIGNALS[mapped.signal]
    with transaction.atomic():
        result = signal.send(provider.__class__, **kwargs)
        errors = [r for r in result.results if r.status == ERROR]
        if errors:
            # Undo what the receivers wrote (and drop the task receivers queued on commit): a retry sends again.
            transaction.set_rollback(True)
        else:
            outcome = _finish(event, Status.PROCESSED, "")
    if not errors:
        logger.info("webhook %s processed: %s sent to %d receiver(s)", label, mapped.signal, len(result.results))
        if mapped.signal == "payment_succeeded":
            _wake_refunds(event)
        return outcome
    message = redact("; ".join(f"{r.receiver}: {type(r.error).__name__}: {r.error}" for r in errors))[:4000]
    if any(is_retryable(r.error) for r in errors) and not attempt.last:
        _finish(
            event,
            Status.FAILED,
            f"retryable (attempt {event.attempts}): {message}",
            next_attempt_at=timezone.now() + timedelta(seconds=settings.PAYMENTS_RETRY_BACKOFF_MAX),
        )
        raise RetryLater(message)
    return _finish(event, Status.FAILED, message)


def _wait_for_payment(event: WebhookEvent, attempt: Attempt, payment_id: str) -> str:
    """A refund before its payment: wait (woken when the payment is processed), at most a number of attempts."""
    limit = settings.PAYMENTS_REFUND_WAIT_ATTEMPTS
    if event.attempts >= limit:
        return _finish(
            event,
            Status.FAILED,
            f"the payment {payment_id} of this refund was not processed "
            f"after {event.attempts} attempts; replay it once the payment is in",
        )
    delay = min(settings.PAYMENTS_RETRY_BACKOFF_MAX, 2**event.attempts)
    _finish(
        event,
        Status.FAILED,
        f"waiting for the payment {payment_id} (attempt {event.attempts} of {limit})",
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    if attempt.eager or attempt.last:
        return "waiting for its payment"  # the payment's processing (or the sweep) wakes it
    raise RetryLater(f"waiting for the payment {payment_id}")


def _wake_refunds(payment: WebhookEvent) -> None:
    waiting = WebhookEvent.objects.filter(
        provider=payment.provider,
        payment_id=payment.payment_id,
        signal="payment_refunded",
        status=Status.FAILED,
        next_attempt_at__isnull=False,
    ).values_list("pk", "trace_id")
    for pk, trace_id in waiting:
        logger.info("payment %s processed: waking refund event %s", payment.payment_id, pk)
        inbox.enqueue_on_commit(pk, trace_id)


def _finish(event: WebhookEvent, status: str, error: str, next_attempt_at=None) -> str:
    now = timezone.now()
    fields = {"status": status, "last_error": error, "next_attempt_at": next_attempt_at, "updated_at": now}
    if status == Status.PROCESSED:
        fields["processed_at"] = now
    # Only while it is still ours: a replay or a stale-claim by another task wins over a late finish.
    WebhookEvent.objects.filter(pk=event.pk, status=Status.PROCESSING, task_id=event.task_id).update(**fields)
    if status == Status.FAILED and next_attempt_at is None:
        logger.error("webhook %s:%s failed: %s", event.provider, event.event_id, error)
    return status
