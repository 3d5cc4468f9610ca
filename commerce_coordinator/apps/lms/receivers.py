"""Receivers that CC_SIGNALS may name. They take the signals' declared arguments as keywords.

The payment signals come from the payments app, which this app never imports:
    payment_succeeded / payment_refunded(order_number: str, lms_user_id: int, course_run_keys: list,
                                         amount: Decimal, currency: str, provider: str, payment_id: str)
"""

import logging

from . import fulfillment
from .models import Order

logger = logging.getLogger(__name__)


def fulfill_paid_order(
    sender, order_number, lms_user_id, course_run_keys, amount, currency, provider, payment_id, **kwargs
):
    """payment_succeeded: record the order (once) and queue one enrollment task per course run."""
    return fulfillment.record_order(
        order_number=order_number,
        lms_user_id=lms_user_id,
        course_run_keys=course_run_keys,
        source=Order.Source.PAYMENT,
        provider=provider,
        payment_id=payment_id,
        amount=amount,
        currency=currency,
    )


def unenroll_refunded_order(
    sender, order_number, lms_user_id, course_run_keys, amount, currency, provider, payment_id, **kwargs
):
    """payment_refunded: mark the order refunded and queue an unenrollment per refunded course run."""
    return fulfillment.record_refund(
        order_number=order_number,
        course_run_keys=course_run_keys,
        lms_user_id=lms_user_id,
        provider=provider,
        payment_id=payment_id,
    )


def log_fulfillment_completed(sender, order_number, lms_user_id, course_run_keys, **kwargs):
    logger.info("Order %s fulfilled: %d course run(s) enrolled", order_number, len(course_run_keys))
    return {"order_number": order_number, "logged": "completed"}


def log_fulfillment_failed(sender, order_number, lms_user_id, course_run_key, action, attempts, error, **kwargs):
    logger.error(
        "Order %s: %s of %s failed after %d attempt(s): %s. Fix the cause, then run `manage.py retry_fulfillment %s`.",
        order_number,
        action,
        course_run_key,
        attempts,
        error,
        order_number,
    )
    return {"order_number": order_number, "logged": "failed"}
