"""Receivers that CC_SIGNALS may name for the payment signals.

``log_payment_event`` logs every payment event and ``log_subscription_event`` every subscription change,
without anything personal: the LMS username and the account id may be e-mails, so they are redacted.
"""

import logging

from commerce_coordinator.apps.core.signals import writes_nothing

from .redaction import redact

logger = logging.getLogger(__name__)


@writes_nothing  # a log line: no savepoint around it in the event's transaction
def log_payment_event(
    sender,
    order_number,
    lms_user_id,
    lms_username,
    course_run_keys,
    amount,
    currency,
    provider,
    payment_id,
    **kwargs,
):
    outcome = f" reason={redact(kwargs['reason'])!r}" if "reason" in kwargs else ""
    if "full_refund" in kwargs:
        outcome += f" full_refund={kwargs['full_refund']}"
    logger.info(
        "payment event from %s: provider=%s payment=%s order=%s user=%s amount=%s %s courses=%d%s",
        sender,
        provider,
        payment_id,
        order_number,
        lms_user_id if lms_user_id is not None else redact(lms_username),
        amount,
        currency,
        len(course_run_keys),
        outcome,
    )
    return {"order_number": order_number, "payment_id": payment_id}


@writes_nothing
def log_subscription_event(sender, provider, subscription_id, account_id, status, **kwargs):
    """The route of subscription_changed until the subscriptions app receives it."""
    logger.info(
        "subscription event from %s: provider=%s subscription=%s account=%s status=%s",
        sender,
        provider,
        subscription_id,
        redact(account_id),
        status,
    )
    return {"subscription_id": subscription_id, "status": status}
