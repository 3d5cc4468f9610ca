"""CloudPayments' signed `recurrent` notification through payments' webhook (subscription_changed) to the
subscriptions receiver, as routed in the shipped settings: reconciled, or recorded for an operator."""

import copy
import json
from decimal import Decimal

import pytest
from django.conf import settings

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.payments.tests.helpers import CP_SECRET, post_cp
from commerce_coordinator.apps.subscriptions.models import Plan, ProviderMismatch, Subscription

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)
PROVIDER_ID = "sc_8cf8a9338fb8ebf7202b08d09c938"


def recurrent(**changes) -> dict:
    fields = copy.deepcopy(json.loads((settings.BASE_DIR / "tests/fixtures/cloudpayments/recurrent.json").read_text()))
    return {k: v for k, v in {**fields, **changes}.items() if v is not None}


@pytest.fixture
def subscription(settings):
    settings.CLOUDPAYMENTS_API_SECRETS = [CP_SECRET]
    plan = Plan.objects.create(code="cp-monthly", name="CP monthly", price=Decimal("990.00"), currency="RUB")
    return Subscription.objects.create(account_id=1, plan=plan, status="active", provider_subscription_id=PROVIDER_ID,
                                       current_period_start="2026-12-01", current_period_end="2026-12-31",
                                       renews_on="2027-01-01")  # fmt: skip


def test_a_cancelled_recurrent_cancels_the_subscription_at_period_end(client, subscription,
                                                                      django_capture_on_commit_callbacks):  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        answer = post_cp(client, "recurrent", recurrent(Status="Cancelled"))
    assert answer.json() == {"code": 0}
    subscription.refresh_from_db()
    assert subscription.status == "active" and subscription.cancel_at_period_end
    assert subscription.events.last().actor == "payments:cloudpayments"


def test_a_status_that_cannot_be_reconciled_is_recorded(client, subscription, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert post_cp(client, "recurrent", recurrent()).json() == {"code": 0}  # PastDue, locally active
    mismatch = ProviderMismatch.objects.get()
    assert (mismatch.subscription, mismatch.provider_status, mismatch.local_status) == (
        subscription,
        "PastDue",
        "active",
    )
    subscription.refresh_from_db()
    assert subscription.status == "active" and not subscription.cancel_at_period_end
