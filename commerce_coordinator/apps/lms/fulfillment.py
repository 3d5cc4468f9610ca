"""Fulfillment: recording orders, queuing one task per line, running a line, and settling the order.

Receivers, views and commands call these functions; the Celery task in tasks.py
runs `run_line`. Everything is keyed so that a second delivery changes nothing:
unique order numbers, one line per course run, and a per-line task token that
lets exactly one task run act on a line at a time.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from commerce_coordinator.apps.core import tracing

from .clients import LmsError, get_client
from .models import Order, OrderLine
from .signals import fulfillment_completed, fulfillment_failed

logger = logging.getLogger(__name__)

SENDER = "commerce_coordinator.apps.lms"
Status = OrderLine.Status


def clean_keys(course_run_keys) -> list[str]:
    """Course run keys without blanks or duplicates, in their order."""
    seen: dict[str, None] = {}
    for key in course_run_keys or []:
        key = str(key).strip()
        if key:
            seen.setdefault(key, None)
    return list(seen)


# --- queuing -----------------------------------------------------------------------------------


def enqueue_line(line: OrderLine, save: bool = True) -> str:
    """Give the line a fresh task token and publish its task when the transaction commits.

    A fresh token supersedes any retry of an earlier task still waiting in the broker.
    With save=False the caller saves the line (e.g. creates it) in the same transaction.
    """
    task_id = uuid.uuid4().hex
    line.task_token = f"{task_id}:0"
    line.next_attempt_at = timezone.now()
    if save:
        line.save(update_fields=["task_token", "next_attempt_at", "status", "modified"])
    ctx = tracing.current()
    headers = ctx.headers(ctx.parent_id) if ctx is not None else {}
    transaction.on_commit(partial(_publish, line, task_id, headers))
    return task_id


def _publish(line: OrderLine, task_id: str, headers: dict) -> None:
    from .tasks import process_line

    try:
        process_line.apply_async(kwargs={"line_id": line.pk}, task_id=task_id, headers=headers)
    except Exception:
        # The line stays pending with its token: `manage.py retry_fulfillment` re-queues it.
        logger.exception("Could not queue LMS task for order line %s (task %s)", line.pk, task_id)


# --- recording ---------------------------------------------------------------------------------


def record_order(
    *,
    order_number: str,
    lms_user_id: int,
    course_run_keys,
    source: str = Order.Source.PAYMENT,
    mode: str | None = None,
    provider: str = "",
    payment_id: str = "",
    amount=None,
    currency: str = "",
) -> dict:
    """Store a paid (or granted) order and queue one enrollment task per line; a second call changes nothing."""
    keys = clean_keys(course_run_keys)
    mode = mode or settings.LMS_ENROLLMENT_MODE
    trace_id = tracing.current_trace_id() or ""
    try:
        # Insert first (the common case: a new order), and treat the unique order number as "already
        # recorded": no read before the write, and no savepoint (ADR 4).
        with transaction.atomic():
            order = Order.objects.create(
                order_number=order_number,
                lms_user_id=lms_user_id,
                source=source,
                provider=provider,
                payment_id=payment_id,
                amount=amount,
                currency=currency[:8],
                trace_ids=[trace_id] if trace_id else [],
                status=Order.Status.FULFILLING if keys else Order.Status.FULFILLED,
            )
            lines = [OrderLine(order=order, course_run_key=key, mode=mode) for key in keys]
            for line in lines:
                enqueue_line(line, save=False)  # publishes line.pk on commit: set by the INSERT below
            if connections[OrderLine.objects.db].features.can_return_rows_from_bulk_insert:
                OrderLine.objects.bulk_create(lines)  # one INSERT ... RETURNING for every line (MariaDB, SQLite)
            else:
                for line in lines:
                    line.save(force_insert=True)
    except IntegrityError:
        with transaction.atomic():
            order = Order.objects.select_for_update().filter(order_number=order_number).first()
            if order is None:
                raise  # not a duplicate: a value the database refuses
            if order.lms_user_id != lms_user_id:
                logger.warning("Order %s was recorded for another LMS user; this delivery is ignored", order_number)
            if order.add_trace_id(trace_id):
                order.save(update_fields=["trace_ids", "modified"])
        return {"order_number": order_number, "created": False, "queued": []}
    logger.info("Order %s recorded with %d line(s); enrollment queued", order_number, len(keys))
    return {"order_number": order_number, "created": True, "queued": keys}


def record_refund(
    *, order_number: str, course_run_keys, lms_user_id: int | None = None, provider: str = "", payment_id: str = ""
) -> dict:
    """Mark the order refunded and queue an unenrollment for each refunded line (all lines if none named).

    A refund that arrives before its payment records the order as refunded with no lines, so that the
    late payment_succeeded finds it and enrolls nobody.
    """
    keys = clean_keys(course_run_keys)
    trace_id = tracing.current_trace_id() or ""
    queued = []
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(order_number=order_number).first()
        if order is None:
            if lms_user_id is None:
                return {"order_number": order_number, "refunded": False, "reason": "unknown order"}
            try:
                with transaction.atomic():
                    Order.objects.create(
                        order_number=order_number,
                        lms_user_id=lms_user_id,
                        status=Order.Status.REFUNDED,
                        provider=provider,
                        payment_id=payment_id,
                        refunded_at=timezone.now(),
                        trace_ids=[trace_id] if trace_id else [],
                    )
            except IntegrityError:  # the payment was recorded meanwhile: refund it the normal way
                return record_refund(order_number=order_number, course_run_keys=course_run_keys)
            logger.warning(
                "Refund for order %s before its payment: recorded as refunded, nothing to unenroll", order_number
            )
            return {"order_number": order_number, "refunded": True, "queued": [], "before_payment": True}
        lines = order.lines.all()
        if keys:
            lines = lines.filter(course_run_key__in=keys)
        for line in lines:
            if line.status in (Status.PENDING, Status.FULFILLED, Status.FAILED):
                line.status = Status.REFUND_PENDING
                enqueue_line(line)
                queued.append(line.course_run_key)
        changed = order.add_trace_id(trace_id)
        if order.status != Order.Status.REFUNDED:
            order.status, order.refunded_at, changed = Order.Status.REFUNDED, timezone.now(), True
        if changed:
            order.save(update_fields=["status", "refunded_at", "trace_ids", "modified"])
    logger.info("Order %s refunded; unenrollment queued for %d line(s)", order_number, len(queued))
    return {"order_number": order_number, "refunded": True, "queued": queued}


def requeue_lines(lines) -> list[tuple[OrderLine, str]]:
    """Re-queue failed (and stuck pending) lines; returns (line, what was done) for each line looked at."""
    done = []
    for line in lines:
        with transaction.atomic():  # the order is locked before its lines, as everywhere
            Order.objects.select_for_update().filter(pk=line.order_id).exists()
            line = OrderLine.objects.select_for_update().select_related("order").get(pk=line.pk)
            before = line.status
            if line.status in OrderLine.RETRYABLE:
                line.status = OrderLine.RETRYABLE[line.status]
            if line.status not in OrderLine.ACTIONS:
                done.append((line, f"nothing to do ({before})"))
                continue
            enqueue_line(line)
            order = line.order
            changed = order.add_trace_id(tracing.current_trace_id())
            if order.status == Order.Status.FAILED:
                order.status, changed = Order.Status.FULFILLING, True
            if changed:
                order.save(update_fields=["status", "trace_ids", "modified"])
            done.append((line, f"re-queued {line.action} (was {before})"))
    return done


def stalled_lines():
    """Lines that should be moving and are not: a task that was never published or whose message was
    lost (next attempt long past), or a run that died mid-call (claimed long ago, never finished)."""
    cutoff = timezone.now() - timedelta(seconds=settings.LMS_STALLED_AFTER)
    return OrderLine.objects.filter(status__in=list(OrderLine.ACTIONS)).filter(
        Q(next_attempt_at__lt=cutoff) | Q(next_attempt_at__isnull=True, last_attempt_at__lt=cutoff)
    )


# --- running one line --------------------------------------------------------------------------


def retry_countdown(retries: int, retry_after: float | None = None) -> float:
    """Seconds before retry number `retries` (0-based): the schedule's delay with jitter, or Retry-After if later."""
    schedule = settings.LMS_RETRY_SCHEDULE
    base = float(schedule[min(retries, len(schedule) - 1)])
    jitter = settings.LMS_RETRY_JITTER
    delay = base * random.uniform(1 - jitter, 1 + jitter)
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), settings.LMS_RETRY_AFTER_MAX))
    return delay


def run_line(task, line_id: int) -> dict:
    """One task run for one line: call the LMS once, then settle, retry later, or dead-letter the line."""
    task_id, retries = task.request.id, task.request.retries or 0
    token = f"{task_id}:{retries}"
    running = f"{token}:run"
    line = OrderLine.objects.select_related("order").filter(pk=line_id).first()
    if line is None:
        return {"line": line_id, "skipped": "no such line"}
    action = line.action
    if action is None:
        return {"line": line_id, "skipped": f"line is {line.status}"}
    now = timezone.now()
    claimed = OrderLine.objects.filter(pk=line_id, task_token=token, status=line.status).update(
        task_token=running,
        attempts=F("attempts") + 1,
        last_attempt_at=now,
        next_attempt_at=None,
        last_trace_id=tracing.current_trace_id() or "",
        modified=now,
    )
    if not claimed:
        return {"line": line_id, "skipped": "superseded by another task run (or a duplicate delivery)"}
    order, status_at_start = line.order, line.status
    mine = OrderLine.objects.filter(pk=line_id, task_token=running, status=status_at_start)
    try:
        get_client().set_enrollment(
            user=str(order.lms_user_id),
            course_run_key=line.course_run_key,
            mode=line.mode,
            is_active=(action == "enroll"),
            order_number=order.order_number,
        )
    except LmsError as exc:
        max_retries = len(settings.LMS_RETRY_SCHEDULE)
        if exc.retryable and retries < max_retries:
            countdown = retry_countdown(retries, exc.retry_after)
            mine.update(
                task_token=f"{task_id}:{retries + 1}",
                last_error=str(exc),
                last_status_code=exc.status_code,
                next_attempt_at=timezone.now() + timedelta(seconds=countdown),
                modified=timezone.now(),
            )
            logger.warning(
                "LMS %s of %s for order %s failed (%s); retry %d/%d in %.0fs",
                action,
                line.course_run_key,
                order.order_number,
                exc,
                retries + 1,
                max_retries,
                countdown,
            )
            raise task.retry(countdown=countdown, max_retries=max_retries, exc=exc) from None
        dead = OrderLine.DEAD[status_at_start]
        mine.update(
            status=dead, task_token="", last_error=str(exc), last_status_code=exc.status_code, modified=timezone.now()
        )
        why = "retries exhausted" if exc.retryable else "not retryable"
        logger.error(
            "LMS %s of %s for order %s failed for good (%s): %s",
            action,
            line.course_run_key,
            order.order_number,
            why,
            exc,
        )
        settle_order(order.pk)
        fulfillment_failed.send(
            SENDER,
            order_number=order.order_number,
            lms_user_id=order.lms_user_id,
            course_run_key=line.course_run_key,
            action=action,
            attempts=line.attempts + 1,
            error=str(exc),
        )
        return {"line": line_id, "status": str(dead), "error": str(exc)}
    done = OrderLine.DONE[status_at_start]
    stamp = {"fulfilled_at": timezone.now()} if done == Status.FULFILLED else {"refunded_at": timezone.now()}
    completed = False
    with transaction.atomic():  # one commit for the line and its order; the order is locked first, as everywhere
        order_status = Order.objects.select_for_update().filter(pk=order.pk).values_list("status", flat=True)[0]
        mine.update(status=done, task_token="", last_error="", last_status_code=None, modified=timezone.now(), **stamp)
        if done == Status.FULFILLED and order_status == Order.Status.FULFILLING:
            lines = list(order.lines.values_list("course_run_key", "status"))
            unfinished = {status for _, status in lines if status != Status.FULFILLED}
            if not unfinished:
                now = timezone.now()
                Order.objects.filter(pk=order.pk).update(status=Order.Status.FULFILLED, fulfilled_at=now, modified=now)
                completed = True
            elif Status.PENDING not in unfinished:
                settle_order(order.pk, send=False)  # the last line is done, but some line failed
    if completed:
        send_completed(order, [key for key, _ in lines])
    return {"line": line_id, "status": str(done), "course_run_key": line.course_run_key}


def settle_order(order_id: int, send: bool = True) -> bool:
    """Recompute an order's status from its lines; True (and fulfillment_completed sent, if `send`) on the
    move to fulfilled, which happens once: under the order's row lock."""
    completed = False
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == Order.Status.REFUNDED:
            return False
        statuses = set(order.lines.values_list("status", flat=True))
        if Status.PENDING in statuses:
            new = Order.Status.FULFILLING
        elif statuses <= {Status.FULFILLED}:
            new = Order.Status.FULFILLED
        else:
            new = Order.Status.FAILED
        if new != order.status:
            order.status = new
            fields = ["status", "modified"]
            if new == Order.Status.FULFILLED:
                order.fulfilled_at, completed = timezone.now(), True
                fields.append("fulfilled_at")
            order.save(update_fields=fields)
    if completed and send:
        send_completed(order)
    return completed


def send_completed(order: Order, course_run_keys: list[str] | None = None) -> None:
    if course_run_keys is None:
        course_run_keys = list(order.lines.values_list("course_run_key", flat=True))
    fulfillment_completed.send(
        SENDER, order_number=order.order_number, lms_user_id=order.lms_user_id, course_run_keys=course_run_keys
    )
