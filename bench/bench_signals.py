"""The signal bench/dispatch sends, and its three trivial in-process receivers (routed by CC_SIGNALS)."""

from commerce_coordinator.apps.core.signals import CoordinatorSignal

order_placed = CoordinatorSignal(
    {"order_number": str, "lms_user_id": int, "course_run_keys": list},
    name="bench_signals.order_placed",
    doc="Benchmark signal.",
)


def reserve_seats(sender, order_number, lms_user_id, course_run_keys, **kwargs):
    return len(course_run_keys)


def record_order(sender, order_number, lms_user_id, course_run_keys, **kwargs):
    return None


def notify_learner(sender, order_number, lms_user_id, course_run_keys, **kwargs):
    return lms_user_id


RECEIVERS = (reserve_seats, record_order, notify_learner)
