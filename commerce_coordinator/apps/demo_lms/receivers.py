"""Demo receivers that CC_SIGNALS names. Each logs that it was called, and by which sender."""

import logging

from .signals import enroll_learner

logger = logging.getLogger(__name__)


def test_receiver(sender, message, **kwargs):
    logger.info("test_receiver called by %s with message=%r", sender, message)
    return f"received {message!r}"


def test_receiver_exception(sender, message, **kwargs):
    logger.info("test_receiver_exception called by %s; it raises on purpose", sender)
    raise ValueError(f"test_receiver_exception always fails (message={message!r})")


def demo_purchase_complete_order_history(sender, order_number, **kwargs):
    logger.info("order history: recorded order %s (sender %s)", order_number, sender)
    return {"order_history": order_number}


def demo_purchase_complete_send_confirmation_email(sender, order_number, lms_user_id, **kwargs):
    logger.info("confirmation e-mail: queued for user %s, order %s (sender %s)", lms_user_id, order_number, sender)
    return {"email": "queued"}


def demo_purchase_complete_enroll_in_course(sender, order_number, lms_user_id, course_run_keys, **kwargs):
    """Send enroll_learner once per course, so the trace is a tree two sends deep."""
    logger.info(
        "enroll in course: %d course run(s) for order %s (sender %s)", len(course_run_keys), order_number, sender
    )
    results = [
        enroll_learner.send(__name__, order_number=order_number, lms_user_id=lms_user_id, course_run_key=key)
        for key in course_run_keys
    ]
    return {"enrollments_requested": len(results), "all_ok": all(r.ok for r in results)}


def demo_enroll_learner_in_course(sender, order_number, lms_user_id, course_run_key, **kwargs):
    logger.info(
        "demo enroll: user %s in %s for order %s (sender %s)", lms_user_id, course_run_key, order_number, sender
    )
    return {"enrolled": course_run_key}
