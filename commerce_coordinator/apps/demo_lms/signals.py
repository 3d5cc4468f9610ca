"""Signals the demo sends; CC_SIGNALS routes them."""

from commerce_coordinator.apps.core.signals import CoordinatorSignal

test_signal = CoordinatorSignal({"message": str}, doc="A test signal: one receiver succeeds, one raises.")
test_celery_signal = CoordinatorSignal({"message": str}, doc="A test signal routed to a Celery task.")
purchase_complete = CoordinatorSignal(
    {"order_number": str, "lms_user_id": int, "course_run_keys": list},
    doc="A demo purchase completed.",
)
enroll_learner = CoordinatorSignal(
    {"order_number": str, "lms_user_id": int, "course_run_key": str},
    doc="Enroll one learner in one course run (sent once per course by the purchase receiver).",
)
