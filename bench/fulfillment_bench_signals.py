"""The payments app's payment_succeeded, declared the same way (the bench imports no payments code)."""

from decimal import Decimal

from commerce_coordinator.apps.core.signals import CoordinatorSignal

payment_succeeded = CoordinatorSignal(
    {
        "order_number": str,
        "lms_user_id": int,
        "course_run_keys": list,
        "amount": Decimal,
        "currency": str,
        "provider": str,
        "payment_id": str,
    }
)
