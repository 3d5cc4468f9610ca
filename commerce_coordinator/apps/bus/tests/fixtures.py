"""Test-only command signals and receivers: the bus's tests route them (settings/test.py), no billing app needed.

Receivers leave a Group row per command, so a test (or a test's consumer process) can count the effects.
"""

from decimal import Decimal

from django.contrib.auth.models import Group

from commerce_coordinator.apps.core.signals import CoordinatorSignal

PREFIX = "commerce_coordinator.apps.bus.tests.fixtures."

issue_invoice = CoordinatorSignal({"account_id": int, "period": str, "amount": Decimal, "message_id": str})
cancel_invoice = CoordinatorSignal({"invoice_number": str, "reason": str})
subscribe = CoordinatorSignal({"account_id": int, "plan": str})
refund = CoordinatorSignal({"invoice_number": str, "amount": Decimal})


class FlakyGateway(Exception):
    retryable = True


def record_effect(sender, **kwargs):
    """One row per command carried out: its name says what was done."""
    key = kwargs.get("message_id") or kwargs.get("invoice_number") or kwargs.get("plan")
    Group.objects.create(name=f"bus-effect:{sender}:{key}"[:150])
    return key


def refund_or_fail(sender, invoice_number, amount, **kwargs):
    """Refunds, except that RETRY-* invoices meet a flaky gateway and a negative amount is refused for good."""
    if invoice_number.startswith("RETRY"):
        raise FlakyGateway(f"gateway busy for {invoice_number}")
    if amount < 0:
        raise ValueError(f"cannot refund a negative amount {amount}")
    return record_effect(sender, invoice_number=invoice_number)


def effects() -> list[str]:
    return sorted(Group.objects.filter(name__startswith="bus-effect:").values_list("name", flat=True))
