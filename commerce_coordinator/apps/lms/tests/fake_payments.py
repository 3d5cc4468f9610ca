"""Stand-ins for the payments app's signals (same declarations), so these tests need no import of that app."""

from decimal import Decimal

from commerce_coordinator.apps.core.signals import CoordinatorSignal

ARGS = {
    "order_number": str,
    "lms_user_id": int,
    "course_run_keys": list,
    "amount": Decimal,
    "currency": str,
    "provider": str,
    "payment_id": str,
}
payment_succeeded = CoordinatorSignal(ARGS)
payment_refunded = CoordinatorSignal(ARGS)

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


def pay(signal=None, order_number="ORD-1", keys=("course-v1:edX+DemoX+Demo_Course",), user=42):
    return (signal or payment_succeeded).send(
        "test",
        order_number=order_number,
        lms_user_id=user,
        course_run_keys=list(keys),
        amount=Decimal("49.00"),
        currency="USD",
        provider="stripe",
        payment_id=f"pi_{order_number}",
    )
