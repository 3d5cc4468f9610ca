"""Signals the LMS fulfillment app sends; CC_SIGNALS routes them."""

from commerce_coordinator.apps.core.signals import CoordinatorSignal

fulfillment_completed = CoordinatorSignal(
    {"order_number": str, "lms_user_id": int | None, "course_run_keys": list},
    doc="Every line of an order is enrolled in the LMS.",
)
fulfillment_failed = CoordinatorSignal(
    {
        "order_number": str,
        "lms_user_id": int | None,  # None for an order that names its learner by username only
        "course_run_key": str,
        "action": str,  # "enroll" or "unenroll"
        "attempts": int,
        "error": str,
    },
    doc="A line gave up (dead letter): a 4xx from the LMS, or retries exhausted; "
    "`manage.py retry_fulfillment` re-queues it. Or the whole order was refused (another user's order "
    "number, too many course runs, a malformed number): then course_run_key is empty and attempts 0.",
)
