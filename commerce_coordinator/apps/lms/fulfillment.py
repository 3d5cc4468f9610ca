"""Fulfillment: recording orders and refunds, running one line's LMS call, and settling the order.

Receivers, views and commands call these functions; the Celery task in tasks.py runs
`run_line`, which hands the line to core's durable work machinery (claim, retry, dead
letter: core.durable). Everything is keyed so that a second delivery changes nothing:
unique order numbers, one line per course run, and the line's claim token.

The last instruction wins (issue 9, item 1): a refund turns a line into an unenrollment
under a fresh claim token at once, even while an enrollment call is in flight. The run
of that enrollment then loses its claim; since its call may still land at the LMS after
the unenrollment (a slow LMS, a read timeout), it queues the unenrollment once more. A run that died
mid-call (a killed worker) queues nothing, so the refund itself waits until that call can no longer land.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from commerce_coordinator.apps.core import durable, hotsql, retries, tracing, validation
from commerce_coordinator.apps.core.redaction import redact

from .clients import LmsError, get_client
from .models import SENDER, Order, OrderLine
from .signals import fulfillment_failed

logger = logging.getLogger(__name__)

Action, State, Work = OrderLine.Action, OrderLine.State, durable.WorkStatus


class OrderRefused(retries.PermanentError):
    """An order this app will not fulfil as sent (another buyer's order number, too many course runs, a
    malformed number). Permanent: the sender should record the event as unroutable with this reason."""


def clean_keys(course_run_keys) -> list[str]:
    """Course run keys without blanks or exact duplicates, in their order (keys are case-sensitive)."""
    seen: dict[str, None] = {}
    for key in course_run_keys or []:
        key = str(key).strip()
        if key:
            seen.setdefault(key, None)
    return list(seen)


def refuse(order_number: str, lms_user_id: int | None, reason: str) -> OrderRefused:
    """Tell the routed receivers (fulfillment_failed) and return the exception for the caller to raise."""
    reason = redact(reason)
    fulfillment_failed.send(
        SENDER,
        order_number=redact(order_number)[:128],
        lms_user_id=lms_user_id,
        course_run_key="",
        action=str(Action.ENROLL),
        attempts=0,
        error=reason,
    )
    return OrderRefused(reason)


# --- recording ---------------------------------------------------------------------------------


def record_order(
    *,
    order_number: str,
    course_run_keys,
    lms_user_id: int | None = None,
    lms_username: str = "",
    source: str = Order.Source.PAYMENT,
    mode: str | None = None,
    provider: str = "",
    payment_id: str = "",
    amount=None,
    currency: str = "",
) -> dict:
    """Store a paid (or granted) order and queue one enrollment per line; a second call changes nothing.

    Raises OrderRefused (after sending fulfillment_failed) for an order number that breaks the one rule
    (core.validation), more course runs than LMS_MAX_COURSE_RUNS_PER_ORDER, no LMS user, or an order
    number already recorded for another user.
    """
    keys = clean_keys(course_run_keys)
    lms_username = (lms_username or "").strip()
    if not validation.is_order_number(order_number):
        raise refuse(str(order_number), lms_user_id, f"not an order number ({validation.ORDER_NUMBER_RULE})")
    if len(keys) > settings.LMS_MAX_COURSE_RUNS_PER_ORDER:
        raise refuse(
            order_number,
            lms_user_id,
            f"{len(keys)} course runs in one order; at most {settings.LMS_MAX_COURSE_RUNS_PER_ORDER} "
            "(LMS_MAX_COURSE_RUNS_PER_ORDER)",
        )
    if lms_user_id is None and not lms_username:
        raise refuse(order_number, None, "the order names no LMS user (neither lms_user_id nor lms_username)")
    trace_id = tracing.current_trace_id() or ""
    try:
        # Insert first (the common case: a new order), and treat the unique order number as "already
        # recorded": no read before the write (ADR 4).
        order = Order(
            order_number=order_number,
            lms_user_id=lms_user_id,
            lms_username=lms_username,
            source=source,
            provider=provider,
            payment_id=payment_id,
            amount=amount,
            currency=currency[:8],
            trace_ids=[trace_id] if trace_id else [],
            status=Order.Status.FULFILLING if keys else Order.Status.FULFILLED,
        )
        insert_order(order, keys, mode or settings.LMS_ENROLLMENT_MODE)
    except IntegrityError:
        with transaction.atomic():
            order = Order.objects.select_for_update().filter(order_number=order_number).first()
            if order is None:
                raise  # not a duplicate: a value the database refuses
            foreign = (order.lms_user_id, order.lms_username) != (lms_user_id, lms_username)
            if not foreign and order.add_trace_id(trace_id):  # a refused order leaves the recorded one as it was
                order.save(update_fields=["trace_ids", "modified"])
        if foreign:
            raise refuse(order_number, lms_user_id, "this order number is already recorded for another LMS user")
        return {"order_number": order_number, "created": False, "queued": []}
    logger.info("Order %s recorded with %d line(s); enrollment queued", order_number, len(keys))
    return {"order_number": order_number, "created": True, "queued": keys}


def insert_order(order: Order, keys: list[str], mode: str) -> None:
    """The order and its lines, all or nothing: IntegrityError, and nothing written, for a taken order number.

    Inside a transaction where a refused statement is undone alone (MariaDB, SQLite: core.hotsql), with no
    savepoint of its own (two round trips of every payment, ADR 75): a failure after the order's INSERT
    deletes the order again."""
    if not hotsql.refused_statement_undone_alone(Order):
        with transaction.atomic():
            hotsql.insert([order])  # the INSERT that Order.objects.create sends (the hot path of every payment)
            create_lines(order, keys, mode)
        return
    hotsql.insert([order])
    try:
        create_lines(order, keys, mode)
    except BaseException:
        with contextlib.suppress(DatabaseError):  # a transaction rolled back whole holds no order to delete
            Order.objects.filter(pk=order.pk).delete()
        raise


def create_lines(order: Order, keys: list[str], mode: str) -> None:
    """One enrollment line per course run, each under its own claim token, published on commit in one message
    (lms.process_lines; a line alone as its own lms.process_line)."""
    now = timezone.now()
    lines = [
        OrderLine(order=order, course_run_key=key, mode=mode, claim_token=uuid.uuid4().hex, next_attempt_at=now)
        for key in keys
    ]
    if lines:
        hotsql.insert(lines)  # one INSERT ... RETURNING for every line (MariaDB, SQLite)
    durable.publish_batch_on_commit(OrderLine, [(line.pk, line.claim_token) for line in lines], instances=lines)


def record_refund(
    *,
    order_number: str,
    course_run_keys,
    full_refund: bool | None = None,
    amount: Decimal | None = None,
    lms_user_id: int | None = None,
    lms_username: str = "",
    provider: str = "",
    payment_id: str = "",
) -> dict:
    """Record a refund: a full one unenrolls every line; a partial one unenrolls the runs it names, or
    (naming none) records the refunded amount and leaves the enrollments. `full_refund` None (an older
    sender): full when no run is named.

    A full refund that arrives before its payment records the order as refunded with no lines, so that
    the late payment_succeeded finds it and enrolls nobody.
    """
    keys = clean_keys(course_run_keys)
    full = not keys if full_refund is None else bool(full_refund)
    trace_id = tracing.current_trace_id() or ""
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(order_number=order_number).first()
        if order is None:
            return refund_before_payment(order_number, full, amount, lms_user_id, lms_username, provider, payment_id)
        lines = list(order.lines.all())
        if not full:
            lines = [line for line in lines if line.course_run_key in keys]
        queued = [line.course_run_key for line in lines if unenroll(line, order)]
        if amount and order.status != Order.Status.REFUNDED:  # a refund of a refunded order changes nothing
            order.refunded_amount = (order.refunded_amount or Decimal(0)) + amount
        every_line = all(action == Action.UNENROLL for action in order.lines.values_list("action", flat=True))
        refunded = full or (bool(keys) and every_line) or order.status == Order.Status.REFUNDED
        order.status = Order.Status.REFUNDED if refunded else Order.Status.PARTIALLY_REFUNDED
        order.refunded_at = order.refunded_at or timezone.now()
        order.add_trace_id(trace_id)
        order.save(update_fields=["status", "refunded_at", "refunded_amount", "trace_ids", "modified"])
    logger.info("Order %s %s; unenrollment queued for %d line(s)", order_number, order.status, len(queued))
    return {"order_number": order_number, "refunded": True, "status": order.status, "queued": queued}


def refund_before_payment(order_number, full, amount, lms_user_id, lms_username, provider, payment_id) -> dict:
    """A full refund of an order not recorded yet: record it refunded, so that its payment enrolls nobody."""
    if not full or (lms_user_id is None and not lms_username) or not validation.is_order_number(order_number):
        return {"order_number": order_number, "refunded": False, "reason": "unknown order"}
    try:
        with transaction.atomic():
            Order.objects.create(
                order_number=order_number,
                lms_user_id=lms_user_id,
                lms_username=(lms_username or "").strip(),
                status=Order.Status.REFUNDED,
                provider=provider,
                payment_id=payment_id,
                refunded_amount=amount or None,
                refunded_at=timezone.now(),
                trace_ids=[t for t in [tracing.current_trace_id()] if t],
            )
    except IntegrityError:  # the payment was recorded meanwhile: refund it the normal way
        return record_refund(order_number=order_number, course_run_keys=[], full_refund=True, amount=amount)
    logger.warning("Refund for order %s before its payment: recorded as refunded, nothing to unenroll", order_number)
    return {"order_number": order_number, "refunded": True, "queued": [], "before_payment": True}


def unenroll(line: OrderLine, order: Order) -> bool:
    """Turn a line into its unenrollment (the order is locked by the caller); True when a call is queued.

    A line whose enrollment was never sent is simply marked unenrolled; any other is unenrolled at the
    LMS, under a fresh claim token, even while its enrollment call is in flight (see run_line): then once
    that call can no longer land (inflight_wait).
    """
    if line.action == Action.UNENROLL:
        return False  # refunded already
    now = timezone.now()
    never_sent = OrderLine.objects.filter(pk=line.pk, status=Work.PENDING, attempts=0).update(
        action=Action.UNENROLL, status=Work.DONE, claim_token="", refunded_at=now, finished_at=now, updated_at=now
    )
    if never_sent:
        line.action = Action.UNENROLL
        return False
    line.order = order
    line.enqueue(countdown=inflight_wait(line), action=Action.UNENROLL, last_error="", last_status_code=None)
    return True


def inflight_wait(line: OrderLine) -> float:
    """Seconds until an enrollment call in flight for this line (or its last one, timed out) can no longer land
    at the LMS; 0 if none can.

    Its run may be dead (a killed worker: no run re-checks the line then), so the unenrollment is sent only
    after the longest such a call may take (a token request and a call retried after a 401, each within the
    client's timeouts) plus LMS_LATE_APPLY_WINDOW. A live run that gets its answer sooner re-queues it at once.
    """
    if line.status not in (Work.RUNNING, Work.RETRY) or line.action != Action.ENROLL or line.claimed_at is None:
        return 0.0
    longest = 3 * (settings.LMS_CONNECT_TIMEOUT + settings.LMS_READ_TIMEOUT) + settings.LMS_LATE_APPLY_WINDOW
    return max(0.0, (line.claimed_at + timedelta(seconds=longest) - timezone.now()).total_seconds())


def requeue_lines(lines, actor: str, reason: str) -> list[tuple[OrderLine, str]]:
    """An operator's re-queue of lines that are not done (failed, stuck or still moving), each with a
    core.WorkAudit row; returns (line, what was done) for each line looked at."""
    done = []
    for line in lines:
        state = line.state
        if line.status == Work.DONE:
            done.append((line, f"nothing to do ({state})"))
            continue
        order = line.order
        # The order first (locked before its lines, as everywhere), and the task published only when both have
        # committed: a run that fails again at once (in process) then settles the order after this change.
        with transaction.atomic():
            if Order.objects.filter(pk=order.pk, status=Order.Status.FAILED).update(status=Order.Status.FULFILLING):
                order.status = Order.Status.FULFILLING
            line.requeue(actor, reason)
        if order.add_trace_id(tracing.current_trace_id()):
            Order.objects.filter(pk=order.pk).update(trace_ids=order.trace_ids)
        done.append((line, f"re-queued {line.action} (was {state})"))
    return done


# --- running one line --------------------------------------------------------------------------


def call_lms(line: OrderLine) -> dict:
    """The line's one LMS call: enroll (or unenroll) its order's learner in its course run."""
    order = line.order
    result = get_client().set_enrollment(
        user=order.lms_user,
        course_run_key=line.course_run_key,
        mode=line.mode,
        is_active=line.action == Action.ENROLL,
        order_number=order.order_number,
    )
    return {"action": line.action, "status_code": result.status_code}


def run_line(task, line_id: int) -> dict:
    """One task run for one line (core.durable.run), then settle the order, or, when a refund took the
    line while this run's enrollment was in flight, queue its unenrollment again."""
    ran: dict = {}

    def work(line: OrderLine):
        ran["line"] = line
        try:
            return call_lms(line)
        except LmsError as exc:
            ran["not_applied"] = line.action == Action.ENROLL and not exc.possibly_applied
            ran["unanswered"] = exc.possibly_applied and exc.status_code is None  # a timeout: it may land later
            raise

    try:
        return durable.run(OrderLine, line_id, task, work)
    finally:
        line = ran.get("line")
        if line is not None and line.action == Action.ENROLL:
            after_enroll(line, possibly_applied=not ran.get("not_applied"), unanswered=ran.get("unanswered", False))


def after_enroll(line: OrderLine, possibly_applied: bool, unanswered: bool = False) -> None:
    """Settle the order, or unenroll again when a refund took the line during this run's enrollment call
    (after LMS_LATE_APPLY_WINDOW when that call got no answer: the LMS may still apply it)."""
    if line.status == Work.DONE:  # this run finished the line, and settled the order with it (OrderLine.finish)
        if getattr(line, "order_fulfilled", None) is None:
            line.order_fulfilled = line.order.settle()
        if line.order_fulfilled:
            line.order.send_completed()
        return
    if line.status != Work.RUNNING or not possibly_applied:
        return  # this run still held the line when it failed (retry, failed), or its call cannot have landed
    with transaction.atomic():
        Order.objects.select_for_update().filter(pk=line.order_id).exists()  # the order first, as everywhere
        now = OrderLine.objects.select_for_update().filter(pk=line.pk).first()
        if now is None or now.action != Action.UNENROLL:
            return
        logger.warning(
            "Order %s: %s was refunded while its enrollment was in flight; unenrolling it again",
            line.order.order_number,
            line.course_run_key,
        )
        now.order = line.order
        now.enqueue(
            countdown=settings.LMS_LATE_APPLY_WINDOW if unanswered else None,
            last_error="refunded during an enrollment call: unenrolled again",
        )
