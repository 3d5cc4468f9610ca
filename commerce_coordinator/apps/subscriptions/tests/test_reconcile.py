"""CloudPayments' recurrent notification (payments' subscription_changed): the local subscription is brought
in line where the transition table allows it, and a mismatch is recorded for an operator where it does not."""

from decimal import Decimal

import pytest

from commerce_coordinator.apps.core import tracing
from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.subscriptions.models import ProviderMismatch
from commerce_coordinator.apps.subscriptions.receivers import reconcile_provider_subscription

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


def notify(status, provider_id="sc_1"):
    with tracing.trace():
        return reconcile_provider_subscription(
            "payments", provider="cloudpayments", subscription_id=provider_id, account_id="learner@example.invalid",
            status=status, amount=Decimal("9.90"), currency="USD", next_transaction_date="2027-01-01 00:00:00",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("local", "provider", "outcome", "after"),
    [("active", "Active", "already in agreement", "active"),
     ("past_due", "PastDue", "already in agreement", "past_due"),
     ("suspended", "PastDue", "already in agreement", "suspended"),
     ("canceled", "Cancelled", "already ended", "canceled"),
     ("active", "Cancelled", "schedule_cancel", "active"), ("active", "Rejected", "schedule_cancel", "active"),
     ("suspended", "Expired", "cancel", "canceled")],
)  # fmt: skip
def test_a_status_the_table_can_reach_is_reconciled(make_subscription, local, provider, outcome, after):
    sub = make_subscription(local, provider_subscription_id="sc_1")
    assert notify(provider)["reconciled"] == outcome
    sub.refresh_from_db()
    assert sub.status == after and not ProviderMismatch.objects.exists()
    if outcome == "schedule_cancel":
        assert sub.cancel_at_period_end and sub.events.last().actor == "payments:cloudpayments"


@pytest.mark.parametrize(("local", "provider"), [("past_due", "Cancelled"), ("active", "PastDue"),
                                                  ("canceled", "Active"), ("pending", "Expired")])  # fmt: skip
def test_a_status_no_transition_reaches_is_recorded_for_an_operator(make_subscription, local, provider):
    sub = make_subscription(local, provider_subscription_id="sc_1")
    answer = notify(provider)
    mismatch = ProviderMismatch.objects.get(pk=answer["mismatch"])
    assert (mismatch.subscription, mismatch.local_status, mismatch.provider_status) == (sub, local, provider)
    assert mismatch.trace_id and not mismatch.resolved
    sub.refresh_from_db()
    assert sub.status == local


def test_an_unknown_provider_subscription_is_recorded(make_subscription):
    answer = notify("Active", provider_id="sc_unknown")
    assert ProviderMismatch.objects.get(pk=answer["mismatch"]).reason == "no local subscription has this provider id"
