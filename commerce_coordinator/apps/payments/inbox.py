"""The inbox: store a verified event once (the unique constraint decides), publish its processing, replay, prune.

A WebhookEvent is a core durable work item (core.durable, ADR 0011 and 0015):

    pending (received) --claim--> running (processing) --> done (processed)
        ^                              |    \\---> retry (a retryable failure; the task runs again)
        |                              |     \\--> failed (dead letter, with the reason)
        +--- replay (requeue) / core's sweep ---+
    ignored:    a type no signal maps, or an event with nothing to send (never processed)
    unroutable: a verified event that names no order of this service (the reason says what is missing);
                replayed once an operator supplied the metadata (replay_webhook_events --set-metadata)

The one publish path of a new event is ``schedule``: with a broker, this process's relay (one batch task
per window, relay.py); in the embedded default (no broker, tasks in process), the event's own task at once.
Everything after that (retries, the sweep, replays) is core's ``item.enqueue``.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from datetime import timedelta
from functools import partial

from celery import current_app
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from commerce_coordinator.apps.core import durable, hotsql, tracing

from . import relay
from .models import LEGACY_STATUS, WAITING_FOR_PAYMENT, WebhookEvent
from .redaction import redact

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
    unroutable=None,
) -> tuple[WebhookEvent | None, bool]:
    """Insert the event (one INSERT: its own transaction) and schedule its processing once that has committed.

    Returns (event, created); a repeated (provider, event_id) returns (None, False) and changes nothing.
    With ``enqueue_on_commit=False`` the caller schedules (the view does it after sending its answer).
    ``payload_json``: the verified body's own JSON text for ``payload``, stored as is (no re-serialisation).
    ``unroutable``: the providers.Unroutable that the mapping raised (stored with its reason, and traced).
    """
    kwargs = mapped.kwargs if mapped is not None else {}
    now = timezone.now()
    if unroutable is not None:
        status, note = Status.UNROUTABLE, redact(unroutable.reason)[: durable.MAX_ERROR]
    elif mapped is None or not mapped.signal:
        status, note = Status.IGNORED, (mapped.note if mapped is not None else "")
    else:
        status, note = Status.PENDING, ""
    event = WebhookEvent(
        provider=provider,
        event_id=event_id,
        type=event_type,
        payload=payload,
        signal=mapped.signal if mapped is not None else "",
        order_number=kwargs.get("order_number") or "",
        payment_id=kwargs.get("payment_id") or (unroutable.payment_id if unroutable is not None else ""),
        status=status,
        last_error=note,
        trace_id=tracing.new_id(),
        created_at=now,
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
    if status == Status.UNROUTABLE:
        _trace_unroutable(event)
    elif enqueue_on_commit and status == Status.PENDING:
        schedule(event)
    logger.info(
        "webhook %s:%s (%s) stored as %s [event trace %s]", provider, event_id, event_type, status, event.trace_id
    )
    return event, True


def _trace_unroutable(event: WebhookEvent) -> None:
    """An unroutable event's own trace: an error node with the reason, named after the event type."""
    logger.warning("webhook %s:%s (%s) is unroutable: %s", event.provider, event.event_id, event.type, event.last_error)
    with tracing.trace(trace_id=event.trace_id, sampled=True):
        tracing.name_trace(event.type)
        with tracing.span("webhook", f"{event.provider} {event.type}", **event.key_values()) as node:
            if node is not None:
                node.outcome(tracing.ERROR, f"unroutable: {event.last_error}")


# --- the INSERT, derived from the model's fields -------------------------------------------------------------

_layouts: dict[str, tuple[str, list]] = {}  # vendor -> (SQL, [(attname, how to adapt the value)])


def _adapter(field, connection):
    """How one field's value becomes a query parameter: the cheap way for the plain types, the ORM's otherwise."""
    kind = field.get_internal_type()
    if kind == "DateTimeField":
        return connection.ops.adapt_datetimefield_value
    if kind == "JSONField":
        return lambda value: None if value is None else json.dumps(value)
    if kind in ("CharField", "TextField", "PositiveIntegerField", "PositiveSmallIntegerField", "IntegerField"):
        return None
    return partial(_prep, field, connection)


def _prep(field, connection, value):
    return field.get_db_prep_save(value, connection)


def insert_layout(connection) -> tuple[str, list]:
    """The INSERT statement of a WebhookEvent and its parameters' readers, from the model's concrete fields
    (every field but the auto primary key): a field added to the model is written with its value or default."""
    layout = _layouts.get(connection.vendor)
    if layout is None:
        quote = connection.ops.quote_name
        fields = [f for f in WebhookEvent._meta.concrete_fields if not isinstance(f, models.AutoField)]
        sql = (
            f"INSERT INTO {quote(WebhookEvent._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
        layout = _layouts[connection.vendor] = (sql, [(f.attname, _adapter(f, connection)) for f in fields])
    return layout


def _insert(connection, event: WebhookEvent, payload_json: str | None) -> None:
    """One plain INSERT statement (what ``save(force_insert=True)`` sends, without the ORM's per-call work).

    bench/webhooks: the ORM's save costs ~0.1 ms more CPU per webhook than this (ADR 0010)."""
    if connection.vendor not in ("mysql", "sqlite"):  # lastrowid is how the id comes back: these two only
        event.save(force_insert=True, using=connection.alias)
        return
    sql, readers = insert_layout(connection)
    params = []
    for attname, adapt in readers:
        value = getattr(event, attname)
        if attname == "payload" and payload_json is not None:
            params.append(payload_json)
        else:
            params.append(value if adapt is None else adapt(value))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        event.pk = cursor.lastrowid
    event._state.adding = False
    event._state.db = connection.alias


# --- publishing ---------------------------------------------------------------------------------------------


def _eager() -> bool:
    """Does this process run tasks in-process (CELERY_TASK_ALWAYS_EAGER, the embedded default)?"""
    return bool(current_app.conf.task_always_eager)


def schedule(event: WebhookEvent) -> None:
    """The one publish path of a newly stored event, once the current transaction (if any) commits.

    With a broker, this process's relay: one ``process_webhook_events`` task per batch (relay.py). In the
    embedded default, the event's own ``process_webhook_event`` at once. Either task claims the event
    under its own id (its claim token is empty until then) and joins the event's trace.
    """
    if _eager():
        headers = {"cc_trace_id": event.trace_id, "cc_parent_id": None, "cc_sampled": tracing.should_sample()}
        publish = partial(durable.publish, WebhookEvent, event.pk, event.claim_token, headers)
    else:
        publish = partial(_submit, event.pk, event.trace_id)
    transaction.on_commit(publish, robust=True)


def _submit(pk: int, trace_id: str) -> None:
    relay.get_relay().submit((pk, trace_id, tracing.should_sample()))


# --- operators ----------------------------------------------------------------------------------------------

NEEDS_FORCE = (Status.DONE, Status.IGNORED, Status.RUNNING)


def operator_word(status: str) -> str:
    """A status as operators knew it before the inbox became a durable work item (received, processed...)."""
    legacy = {value: word for word, value in LEGACY_STATUS.items()}
    legacy[Status.RETRY] = "failed"
    return legacy.get(status, status)


def replay(
    events, force: bool = False, actor: str = "operator", reason: str = "", metadata: dict | None = None
) -> list[tuple[WebhookEvent, str]]:
    """Re-queue events for processing (core's requeue: an audit row each). Processed, ignored or processing
    ones need ``force``. ``metadata``: order metadata stored on each event and read over its payload's.

    Returns (event, what happened) for each event, for the command and the admin to print.
    """
    reason = reason or "replayed by an operator (no reason given)"
    done = []
    for event in events:
        if event.status in NEEDS_FORCE and not force:
            done.append((event, f"skipped: {operator_word(event.status)} (use --force)"))
            continue
        previous = operator_word(event.status)
        fields = {"metadata_override": {**event.metadata_override, **metadata}} if metadata else {}
        event.requeue(actor, reason, action="replay", **fields)
        done.append((event, f"replayed (was {previous})"))
    return done


def wake_refunds(payment: WebhookEvent) -> int:
    """A payment was processed: re-queue its refunds that were waiting for it (or gave up waiting). Inside
    ``refunds_woken_together`` this waits for the end of the batch; the count is then 0. A worker lost in
    between: the sweep wakes a refund that gave up on a payment that is done (``WebhookEvent.stalled``)."""
    together = _payments_to_wake.get()
    if together is not None:
        ctx = tracing.current()
        together.append((payment, ctx.headers(ctx.parent_id) if ctx is not None else None))
        return 0
    return _wake([(payment, None)])


@contextlib.contextmanager
def refunds_woken_together():
    """The refunds of every payment processed inside are woken at its end, with one SELECT for all (a relay
    batch: one look-up per batch instead of one per payment), each in its payment's trace."""
    token = _payments_to_wake.set([])
    try:
        yield
    finally:
        payments = _payments_to_wake.get()
        _payments_to_wake.reset(token)
        if payments:
            try:
                _wake(payments)
            except Exception:  # the payments are done; the sweep wakes their refunds
                logger.exception("Waking the refunds of %d processed payment(s) failed", len(payments))


_payments_to_wake: contextvars.ContextVar[list | None] = contextvars.ContextVar("payments_to_wake", default=None)


def _wake(payments: list[tuple[WebhookEvent, dict | None]]) -> int:
    """Re-queue the refunds waiting for these payments, each under its payment's trace (its trace headers) when
    one is given, else the current one."""
    # After every processed payment, and nearly always none: one SELECT as SQL text (core.hotsql), the ORM only
    # for the refunds found.
    ids = sorted({payment.payment_id for payment, _ in payments})
    where = f"{{payment_id}} IN ({', '.join(['%s'] * len(ids))}) AND {{signal}} = %s AND {{status}} IN (%s, %s)"
    params = [*ids, "payment_refunded", Status.RETRY, Status.FAILED]
    found = hotsql.rows(WebhookEvent, ("id", "last_error", "payment_id", "provider"), where, params)
    traces = {(payment.provider, payment.payment_id): trace for payment, trace in payments}
    waiting = [
        pk
        for pk, last_error, payment_id, provider in found
        if WAITING_FOR_PAYMENT in last_error and (provider, payment_id) in traces
    ]
    count = 0
    for refund in WebhookEvent.objects.filter(pk__in=waiting) if waiting else ():
        with tracing.joined(traces[refund.provider, refund.payment_id]):
            logger.info("payment %s processed: waking refund event %s", refund.payment_id, refund.pk)
            refund.enqueue()
        count += 1
    return count


def prune(days: int, batch: int = 1000) -> int:
    """Delete finished events (done, failed, ignored, unroutable) received more than ``days`` days ago."""
    cutoff = timezone.now() - timedelta(days=days)
    finished = WebhookEvent.objects.filter(created_at__lt=cutoff).exclude(status__in=durable.MOVING)
    deleted = 0
    while True:
        pks = list(finished.values_list("pk", flat=True)[:batch])
        if not pks:
            return deleted
        deleted += WebhookEvent.objects.filter(pk__in=pks).delete()[0]
