"""Receivers that CC_SIGNALS may name for the payment signals.

``log_payment_event`` is the placeholder route until the LMS receivers are merged: it logs the
event without anything personal (no e-mail, no card data: the signals carry none).
"""

import logging

logger = logging.getLogger(__name__)


def log_payment_event(
    sender, order_number, lms_user_id, course_run_keys, amount, currency, provider, payment_id, **kwargs
):
    outcome = f" reason={kwargs['reason']!r}" if "reason" in kwargs else ""
    logger.info(
        "payment event from %s: provider=%s payment=%s order=%s user=%s amount=%s %s courses=%d%s",
        sender,
        provider,
        payment_id,
        order_number,
        lms_user_id,
        amount,
        currency,
        len(course_run_keys),
        outcome,
    )
    return {"order_number": order_number, "payment_id": payment_id}
