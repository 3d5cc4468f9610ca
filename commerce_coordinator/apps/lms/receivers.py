"""Receivers that CC_SIGNALS may name. They take the signals' declared arguments as keywords (and keep
**kwargs, so that an argument a sender adds later never breaks them).

The payment signals come from the payments app, which this app never imports:
    payment_succeeded(order_number: str, lms_user_id: int | None, lms_username: str, course_run_keys: list,
                      amount: Decimal, currency: str, provider: str, payment_id: str)
    payment_refunded(the same, + full_refund: bool): `amount` is the amount refunded now, `course_run_keys`
                      the runs the refund names ([] when it names none).
The enrollment call names the learner by lms_username when given, else by str(lms_user_id).
"""

import logging

from commerce_coordinator.apps.core.signals import isolates_its_writes

from . import fulfillment
from .models import Order

logger = logging.getLogger(__name__)


@isolates_its_writes  # record_order's writes are each in an atomic block of its own
def fulfill_paid_order(
    sender,
    order_number,
    lms_user_id,
    course_run_keys,
    amount,
    currency,
    provider,
    payment_id,
    lms_username="",
    **kwargs,
):
    """payment_succeeded: record the order (once) and queue one enrollment per course run.

    Raises fulfillment.OrderRefused (retryable = False) for an order this app refuses; the sender records
    the event as unroutable with that reason.
    """
    return fulfillment.record_order(
        order_number=order_number,
        lms_user_id=lms_user_id,
        lms_username=lms_username,
        course_run_keys=course_run_keys,
        source=Order.Source.PAYMENT,
        provider=provider,
        payment_id=payment_id,
        amount=amount,
        currency=currency,
    )


def unenroll_refunded_order(
    sender,
    order_number,
    lms_user_id,
    course_run_keys,
    amount,
    currency,
    provider,
    payment_id,
    lms_username="",
    full_refund=None,
    **kwargs,
):
    """payment_refunded: a full refund unenrolls every line; a partial one the runs it names, or else
    records the refunded amount on the order (status partially_refunded) and leaves the enrollments."""
    return fulfillment.record_refund(
        order_number=order_number,
        course_run_keys=course_run_keys,
        full_refund=full_refund,
        amount=amount,
        lms_user_id=lms_user_id,
        lms_username=lms_username,
        provider=provider,
        payment_id=payment_id,
    )


def log_fulfillment_completed(sender, order_number, lms_user_id, course_run_keys, **kwargs):
    logger.info("Order %s fulfilled: %d course run(s) enrolled", order_number, len(course_run_keys))
    return {"order_number": order_number, "logged": "completed"}


def log_fulfillment_failed(sender, order_number, lms_user_id, course_run_key, action, attempts, error, **kwargs):
    if not course_run_key:  # the whole order was refused (fulfillment.OrderRefused): nothing to re-queue
        logger.error("Order %s refused: %s", order_number, error)
    else:
        logger.error(
            "Order %s: %s of %s failed after %d attempt(s): %s. Fix the cause, then run "
            "`manage.py retry_fulfillment %s`.",
            order_number,
            action,
            course_run_key,
            attempts,
            error,
            order_number,
        )
    return {"order_number": order_number, "logged": "failed"}
