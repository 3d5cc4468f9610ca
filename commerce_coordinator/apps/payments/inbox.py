"""The inbox: store a verified event once (the unique constraint decides), and hand it to the processing task.

State machine of a WebhookEvent:

    received --claim--> processing --> processed
        ^                  |   \\----> failed (next_attempt_at set: a retry is due; empty: final)
        |                  |            |
        +-- replay/sweep --+------------+          ignored: a type no signal maps (never processed)

A task may claim an event (one UPDATE ... WHERE, so only one wins) when it is received, failed with a
retry due, processing under this very task id (the broker redelivered the task of a killed worker),
or processing for longer than PAYMENTS_PROCESSING_TIMEOUT (its worker is gone).
"""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from commerce_coordinator.apps.core import tracing

from . import relay
from .models import WebhookEvent

logger = logging.getLogger(__name__)
Status = WebhookEvent.Status


def store(
    provider: str,
    event_id: str,
    event_type: str,
    payload: dict,
    mapped,
    enqueue_on_commit: bool = True,
    payload_json: str | None = None,
) -> tuple[WebhookEvent | None, bool]:
    """Insert the event (one INSERT: its own transaction) and enqueue its processing once that has committed.

    Returns (event, created); a repeated (provider, event_id) returns (None, False) and changes nothing.
    With ``enqueue_on_commit=False`` the caller enqueues (the view does it after sending its answer).
    ``payload_json``: the verified body's own JSON text for ``payload``, stored as is (no re-serialisation).
    """
    kwargs = mapped.kwargs if mapped is not None else {}
    now = timezone.now()
    event = WebhookEvent(
        provider=provider,
        event_id=event_id,
        type=event_type,
        payload=payload,
        signal=mapped.signal if mapped is not None else "",
        order_number=kwargs.get("order_number") or "",
        payment_id=kwargs.get("payment_id") or "",
        status=Status.RECEIVED if mapped is not None else Status.IGNORED,
        trace_id=tracing.new_id(),
        received_at=now,
        updated_at=now,
    )
    # Outside a transaction the INSERT commits by itself (one round trip); inside one, a savepoint keeps a
    # duplicate's IntegrityError from breaking the caller's transaction.
    connection = transaction.get_connection()
    in_transaction = connection.in_atomic_block
    try:
        with transaction.atomic() if in_transaction else contextlib.nullcontext():
            _insert(connection, event, payload_json)
    except IntegrityError:
        if not WebhookEvent.objects.filter(provider=provider, event_id=event_id).exists():
            raise
        return None, False
    if enqueue_on_commit and event.status == Status.RECEIVED:
        schedule(event)
    logger.info(
        "webhook %s:%s (%s) stored as %s [event trace %s]", provider, event_id, event_type, event.status, event.trace_id
    )
    return event, True


_INSERT_FIELDS = (
    "provider",
    "event_id",
    "type",
    "payload",
    "signal",
    "order_number",
    "payment_id",
    "status",
    "attempts",
    "last_error",
    "task_id",
    "trace_id",
    "received_at",
    "updated_at",
)
_insert_sql: dict[str, str] = {}


def _insert(connection, event: WebhookEvent, payload_json: str | None) -> None:
    """One plain INSERT statement (what ``save(force_insert=True)`` sends, without the ORM's per-call work)."""
    if connection.vendor not in ("mysql", "sqlite"):  # lastrowid is how the id comes back: these two only
        event.save(force_insert=True, using=connection.alias)
        return
    sql = _insert_sql.get(connection.vendor)
    if sql is None:
        quote = connection.ops.quote_name
        columns = ", ".join(quote(WebhookEvent._meta.get_field(name).column) for name in _INSERT_FIELDS)
        sql = _insert_sql[connection.vendor] = (
            f"INSERT INTO {quote(WebhookEvent._meta.db_table)} ({columns}) "
            f"VALUES ({', '.join(['%s'] * len(_INSERT_FIELDS))})"
        )
    adapt = connection.ops.adapt_datetimefield_value
    params = [
        event.provider,
        event.event_id,
        event.type,
        payload_json if payload_json is not None else json.dumps(event.payload),
        event.signal,
        event.order_number,
        event.payment_id,
        event.status,
        event.attempts,
        event.last_error,
        event.task_id,
        event.trace_id,
        adapt(event.received_at),
        adapt(event.updated_at),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        event.pk = cursor.lastrowid
    event._state.adding = False
    event._state.db = connection.alias


def enqueue(pk: int, trace_id: str = "") -> str | None:
    """Send the processing task to the broker; a failure is logged (the sweep finds the event again)."""
    from .tasks import process_webhook_event

    headers = {"cc_trace_id": trace_id, "cc_parent_id": None, "cc_sampled": tracing.should_sample()} if trace_id else {}
    try:
        # retry=False: a broker that is down fails at once (logged) instead of holding this process;
        # the event is stored, and the sweep enqueues it again.
        return process_webhook_event.apply_async(args=[pk], headers=headers, retry=False).id
    except Exception:
        logger.exception("Could not enqueue processing of webhook event %s; the sweep will retry", pk)
        return None


def enqueue_on_commit(pk: int, trace_id: str = "") -> None:
    transaction.on_commit(partial(enqueue, pk, trace_id), robust=True)


def relay_on_commit(pk: int, trace_id: str = "") -> None:
    """Hand the event to this process's relay (one task per batch) when the current transaction commits."""
    transaction.on_commit(partial(_submit, pk, trace_id), robust=True)


def _submit(pk: int, trace_id: str) -> None:
    relay.get_relay().submit((pk, trace_id, tracing.should_sample()))


def _eager() -> bool:
    """Does this process run tasks in-process (CELERY_TASK_ALWAYS_EAGER, the embedded default)?"""
    from .tasks import process_webhook_events

    return bool(process_webhook_events.app.conf.task_always_eager)


def schedule(event: WebhookEvent) -> None:
    """Enqueue a stored event's processing when the current transaction (if any) commits.

    With a broker, through the relay (one message per batch, see relay.py); in the embedded default
    (CELERY_TASK_ALWAYS_EAGER, no broker) or with PAYMENTS_RELAY off, one task at once, as before.
    """
    if settings.PAYMENTS_RELAY and not _eager():
        relay_on_commit(event.pk, event.trace_id)
    else:
        enqueue_on_commit(event.pk, event.trace_id)


def claim(pk: int, task_id: str) -> bool:
    """Atomically take an event for processing; True only for the one task that wins it."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.PAYMENTS_PROCESSING_TIMEOUT)
    claimable = (
        Q(status=Status.RECEIVED)
        | Q(status=Status.FAILED, next_attempt_at__isnull=False)
        | Q(status=Status.PROCESSING, task_id=task_id)
        | Q(status=Status.PROCESSING, updated_at__lt=stale)
    )
    won = WebhookEvent.objects.filter(claimable, pk=pk).update(
        status=Status.PROCESSING, task_id=task_id[:64], attempts=F("attempts") + 1, updated_at=now
    )
    return won == 1


def replay(events, force: bool = False) -> list[tuple[WebhookEvent, str]]:
    """Reset events to received and enqueue them. Processed, ignored or processing ones need ``force``.

    Returns (event, what happened) for each event, for the command and the admin to print.
    """
    done = []
    for event in events:
        if event.status in (Status.PROCESSED, Status.IGNORED, Status.PROCESSING) and not force:
            done.append((event, f"skipped: {event.status} (use --force)"))
            continue
        previous = event.status
        WebhookEvent.objects.filter(pk=event.pk).update(
            status=Status.RECEIVED, next_attempt_at=None, task_id="", updated_at=timezone.now()
        )
        enqueue_on_commit(event.pk, event.trace_id)
        done.append((event, f"replayed (was {previous})"))
    return done


def sweep(limit: int = 500) -> list[int]:
    """Re-enqueue events left behind: received or due-for-retry too long, or processing past the timeout."""
    now = timezone.now()
    after = now - timedelta(seconds=settings.PAYMENTS_SWEEP_AFTER)
    stale = now - timedelta(seconds=settings.PAYMENTS_PROCESSING_TIMEOUT)
    stuck = (
        WebhookEvent.objects.filter(
            Q(status=Status.RECEIVED, updated_at__lt=after)
            | Q(status=Status.FAILED, next_attempt_at__lt=after)
            | Q(status=Status.PROCESSING, updated_at__lt=stale)
        )
        .order_by("received_at")
        .values_list("pk", "trace_id", "status")[:limit]
    )
    found = list(stuck)
    for pk, trace_id, status in found:
        if status == Status.RECEIVED:  # not again at the next sweep unless it is still there after PAYMENTS_SWEEP_AFTER
            WebhookEvent.objects.filter(pk=pk, status=status).update(updated_at=now)
        enqueue(pk, trace_id)
    if found:
        logger.warning("sweep re-enqueued %d webhook event(s): %s", len(found), [pk for pk, _, _ in found])
    return [pk for pk, _, _ in found]
