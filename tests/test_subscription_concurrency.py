"""Two renewal sweeps at once on MariaDB (the scheduler started twice): every subscription is renewed once,
each account gets one invoice and one charge for the period."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connections

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing.models import Invoice, InvoiceCharge
from commerce_coordinator.apps.invoicing.tests import factories
from commerce_coordinator.apps.subscriptions import renewals
from commerce_coordinator.apps.subscriptions.models import Plan, Renewal, Subscription, SubscriptionEvent

pytestmark = [pytest.mark.mysql_only, pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)]


def test_two_sweeps_at_once_renew_each_subscription_once(gateway, billing_clock, settings):
    settings.SUBSCRIPTIONS_BATCH_SIZE = 5
    plan = Plan.objects.create(code="monthly", name="Monthly", price=Decimal("9.90"), currency="USD")
    subs = []
    for n in range(30):
        account = factories.account("ok", lms_user_id=7000 + n, products=0)
        subs.append(Subscription.objects.create(account_id=account.pk, plan=plan, status="active",
                                                current_period_start=dt.date(2026, 12, 1),
                                                current_period_end=dt.date(2026, 12, 31),
                                                renews_on=dt.date(2027, 1, 1)))  # fmt: skip
    billing_clock.move(days=30)
    results, errors = [], []

    def sweep():
        try:
            for _attempt in range(5):  # a deadlock rolls a page back; the next run (here: a retry) finds it due
                try:
                    results.append(renewals.renew_due(actor=threading.current_thread().name))
                    break
                except Exception as exc:  # noqa: BLE001
                    errors.append(repr(exc))
        finally:
            for connection in connections.all():
                connection.close()

    threads = [threading.Thread(target=sweep, name=f"sweep-{n}") for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert len(results) == 2 and sum(r["renewed"] for r in results) == 30, (results, errors)
    assert Renewal.objects.filter(period_start="2027-01-01").count() == 30
    assert SubscriptionEvent.objects.filter(action="renew").count() == 30
    january = Invoice.objects.filter(period_start="2027-01-01")
    assert january.count() == 30 and set(january.values_list("state", flat=True)) == {"paid"}
    assert InvoiceCharge.objects.filter(invoice__in=january).count() == 30 and gateway.calls() == 30
    assert all(s.renews_on == dt.date(2027, 2, 1) for s in Subscription.objects.all())
