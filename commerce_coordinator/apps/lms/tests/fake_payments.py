"""Stand-ins for the payments app's signals (same declarations), so these tests need no import of that app.

The contract (issue 7's paydurable/lmsdurable pair): payment_succeeded(order_number, lms_user_id: int | None,
lms_username, course_run_keys, amount, currency, provider, payment_id); payment_refunded(the same + full_refund:
bool), where amount is the amount refunded now and course_run_keys the runs the refund names ([] if none).
"""

from decimal import Decimal

from commerce_coordinator.apps.core.signals import CoordinatorSignal

ARGS = {
    "order_number": str,
    "lms_user_id": int | None,
    "lms_username": str,
    "course_run_keys": list,
    "amount": Decimal,
    "currency": str,
    "provider": str,
    "payment_id": str,
}
payment_succeeded = CoordinatorSignal(ARGS)
payment_refunded = CoordinatorSignal({**ARGS, "full_refund": bool})

RECORDED: list[tuple[str, dict]] = []


def record_completed(sender, **kwargs):
    RECORDED.append(("completed", kwargs))


def record_failed(sender, **kwargs):
    RECORDED.append(("failed", kwargs))


HERE = "commerce_coordinator.apps.lms.tests.fake_payments"
CC_SIGNALS = {
    f"{HERE}.payment_succeeded": ["commerce_coordinator.apps.lms.receivers.fulfill_paid_order"],
    f"{HERE}.payment_refunded": ["commerce_coordinator.apps.lms.receivers.unenroll_refunded_order"],
    "commerce_coordinator.apps.lms.signals.fulfillment_completed": [
        "commerce_coordinator.apps.lms.receivers.log_fulfillment_completed",
        f"{HERE}.record_completed",
    ],
    "commerce_coordinator.apps.lms.signals.fulfillment_failed": [
        "commerce_coordinator.apps.lms.receivers.log_fulfillment_failed",
        f"{HERE}.record_failed",
    ],
}


def pay(order_number="ORD-1", keys=("course-v1:edX+DemoX+Demo_Course",), user=42, username="", amount="49.00"):
    """payment_succeeded as payments sends it."""
    return payment_succeeded.send("test", **_args(order_number, keys, user, username, amount))


def refund(order_number="ORD-1", keys=(), user=42, username="", amount="49.00", full=True):
    """payment_refunded as payments sends it: `keys` the runs the refund names, `full` whether it is whole."""
    return payment_refunded.send("test", **_args(order_number, keys, user, username, amount), full_refund=full)


def _args(order_number, keys, user, username, amount) -> dict:
    return {
        "order_number": order_number,
        "lms_user_id": user,
        "lms_username": username,
        "course_run_keys": list(keys),
        "amount": Decimal(amount),
        "currency": "USD",
        "provider": "stripe",
        "payment_id": f"pi_{order_number}",
    }
