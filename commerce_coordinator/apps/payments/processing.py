"""Processing one claimed event: map it to its signal and send it under the event's trace (core.durable runs it).

``process_event`` is the work of a WebhookEvent (tasks.py passes it to ``durable.run``): it raises on
failure and core decides, with its one classification (core.retries), whether the event is retried on
``PAYMENTS_RETRY_SCHEDULE`` or dead-lettered; the trace's nodes say ``retry`` or ``error`` with the reason.
"""

from __future__ import annotations

import logging

from django.db import transaction

from commerce_coordinator.apps.core import retries, tracing
from commerce_coordinator.apps.core.signals import ERROR

from . import inbox
from .models import WebhookEvent
from .providers import INHERITED_FROM_PAYMENT, Unroutable, WebhookError, get_provider
from .redaction import redact
from .signals import SIGNALS

logger = logging.getLogger(__name__)
Status = WebhookEvent.Status


def process_event(event: WebhookEvent) -> str:
    """Send the event's signal; the event is done in the same transaction as its receivers' writes."""
    tracing.name_trace(event.type)
    try:
        provider = get_provider(event.provider)
        mapped = provider.route(event.type, event.payload, event.metadata_override)
    except Unroutable as exc:
        return _end(event, Status.UNROUTABLE, f"unroutable: {redact(exc.reason)}")
    except (KeyError, WebhookError) as exc:
        raise retries.PermanentError(redact(f"cannot map the event: {exc!r}")) from exc
    if mapped is None or not mapped.signal:
        return _end(event, Status.IGNORED, mapped.note if mapped is not None else "")
    kwargs = dict(mapped.kwargs)
    if mapped.requires_payment:
        kwargs = _with_payment(event, kwargs)
    elif mapped.completes_from_payment:
        kwargs = _completed(event, kwargs)
        if not kwargs["order_number"]:
            return _end(event, Status.UNROUTABLE, "unroutable: it names no order (InvoiceId), nor does its payment")
    tracing.add_keys(
        order_number=kwargs.get("order_number"),
        payment_id=kwargs.get("payment_id"),
        lms_user_id=kwargs.get("lms_user_id"),
    )
    with transaction.atomic():
        result = SIGNALS[mapped.signal].send(provider.__class__, **kwargs)
        errors = [r for r in result.results if r.status == ERROR]
        if errors:  # raising rolls back what the receivers wrote (and drops task receivers queued on commit)
            raise _failure(errors)
        event.finish(
            signal=mapped.signal,
            order_number=kwargs.get("order_number") or "",
            payment_id=kwargs.get("payment_id") or "",
            last_error="",
        )
    logger.info(
        "webhook %s:%s processed: %s sent to %d receiver(s)",
        event.provider,
        event.event_id,
        mapped.signal,
        len(result.results),
    )
    if mapped.signal == "payment_succeeded":
        inbox.wake_refunds(event)
    return f"{mapped.signal} sent to {len(result.results)} receiver(s)"


def _end(event: WebhookEvent, status: str, note: str) -> str:
    """Finish an event that has nothing to send: ignored, or unroutable (an error for the trace)."""
    event.finish(status=status, last_error=note[:4000])
    if status == Status.UNROUTABLE:
        logger.warning("webhook %s:%s is %s", event.provider, event.event_id, note)
        tracing.set_outcome(tracing.ERROR, note)
    return note or status


def _failure(errors) -> retries.WorkError:
    """One error for the failed receivers: retryable when any of them is (core.retries), else permanent."""
    return retries.receivers_failure(errors, redact)


def _completed(event: WebhookEvent, kwargs: dict) -> dict:
    """Fields a void leaves None come from an earlier event of the same payment (its authorization) if any."""
    earlier = (
        WebhookEvent.objects.filter(
            provider=event.provider, payment_id=kwargs["payment_id"], created_at__lte=event.created_at
        )
        .exclude(pk=event.pk)
        .order_by("created_at")
        .first()
    )
    if earlier is not None:
        try:
            source = get_provider(earlier.provider).route(earlier.type, earlier.payload, earlier.metadata_override)
        except Unroutable:
            source = None
        for name, value in (source.kwargs if source is not None else {}).items():
            if kwargs.get(name) is None:
                kwargs[name] = value
    for name in ("order_number", "lms_username", "currency"):
        if kwargs.get(name) is None:
            kwargs[name] = ""
    return kwargs


def _with_payment(refund: WebhookEvent, kwargs: dict) -> dict:
    """A refund is applied after its payment: the fields it lacks come from the payment's event, and a
    refund of the payment's whole amount is full. Until the payment is in, a retryable wait."""
    payment = (
        WebhookEvent.objects.filter(
            provider=refund.provider, payment_id=kwargs["payment_id"], signal="payment_succeeded", status=Status.DONE
        )
        .order_by("created_at")
        .first()
    )
    if payment is None:
        raise retries.RetryableError(f"{inbox.WAITING_FOR_PAYMENT}: {kwargs['payment_id']} (replay it once it is in)")
    paid = get_provider(payment.provider).route(payment.type, payment.payload, payment.metadata_override).kwargs
    for name in INHERITED_FROM_PAYMENT:
        if kwargs.get(name) is None:
            kwargs[name] = paid[name]
    if kwargs.get("lms_username") is None:
        kwargs["lms_username"] = ""
    if kwargs.get("full_refund") is None:
        kwargs["full_refund"] = kwargs["amount"] >= paid["amount"]
    return kwargs
