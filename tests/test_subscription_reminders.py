"""Renewal reminders: N days before each renewal (several N), once per subscription, period and N, e-mailed
by invoicing's receiver behind a waffle switch, catching up after missed beat runs."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from waffle.testutils import override_switch

from commerce_coordinator.apps.core.testing import ALL_DATABASES
from commerce_coordinator.apps.invoicing.tests import factories
from commerce_coordinator.apps.subscriptions import tasks
from commerce_coordinator.apps.subscriptions.models import Plan, ReminderSent, Subscription

pytestmark = pytest.mark.django_db(transaction=True, databases=ALL_DATABASES)
SWITCH = "subscriptions.email_renewal_reminder"


@pytest.fixture
def subscription(settings, billing_clock):
    settings.SUBSCRIPTIONS_REMINDER_DAYS = [7, 1]
    plan = Plan.objects.create(code="monthly", name="Monthly", price=Decimal("9.90"), currency="USD")
    account = factories.account("ok", products=0)
    period = {"current_period_start": dt.date(2026, 12, 1), "current_period_end": dt.date(2026, 12, 31)}
    return Subscription.objects.create(
        account_id=account.pk, plan=plan, status="active", renews_on=dt.date(2027, 1, 1), **period
    )


def day(billing_clock, date: dt.date) -> None:
    billing_clock.set_to(dt.datetime(date.year, date.month, date.day, 9, tzinfo=dt.UTC))


@override_switch(SWITCH, active=True)
def test_each_reminder_is_sent_once_per_period_and_n(subscription, billing_clock):
    day(billing_clock, dt.date(2026, 12, 20))
    assert tasks.send_reminders() == {"sent": 0, "skipped": 0}  # 12 days before: not yet
    day(billing_clock, dt.date(2026, 12, 25))
    assert tasks.send_reminders() == {"sent": 1, "skipped": 0}  # 7 days before
    assert tasks.send_reminders() == {"sent": 0, "skipped": 0}  # beat runs again: nothing
    day(billing_clock, dt.date(2026, 12, 31))
    assert tasks.send_reminders() == {"sent": 1, "skipped": 0}  # 1 day before
    assert tasks.send_reminders() == {"sent": 0, "skipped": 0}
    assert len(mail.outbox) == 2
    assert mail.outbox[0].subject == "Your subscription renews on 2027-01-01"
    assert "9.90 USD" in mail.outbox[0].body and mail.outbox[0].to == ["learner9001@example.invalid"]
    assert sorted(ReminderSent.objects.values_list("days_before", flat=True)) == [1, 7]


@override_switch(SWITCH, active=True)
def test_a_missed_beat_catches_up_with_the_nearest_reminder_only(subscription, billing_clock):
    day(billing_clock, dt.date(2026, 12, 27))  # the run of the 25th was missed: the 7-day window is open
    assert tasks.send_reminders() == {"sent": 1, "skipped": 0}
    day(billing_clock, dt.date(2026, 12, 31))
    assert tasks.send_reminders()["sent"] == 1
    Subscription.objects.filter(pk=subscription.pk).update(renews_on=dt.date(2027, 2, 1))  # renewed
    day(billing_clock, dt.date(2027, 1, 31))  # both windows of February opened unseen: only the 1-day one
    assert tasks.send_reminders() == {"sent": 1, "skipped": 1}
    assert len(mail.outbox) == 3


@override_switch(SWITCH, active=False)
def test_the_switch_off_records_the_reminder_but_mails_nothing(subscription, billing_clock):
    day(billing_clock, dt.date(2026, 12, 25))
    assert tasks.send_reminders()["sent"] == 1
    assert mail.outbox == [] and ReminderSent.objects.count() == 1


@override_switch(SWITCH, active=True)
def test_a_subscription_ending_at_period_end_is_not_reminded(subscription, billing_clock):
    Subscription.objects.filter(pk=subscription.pk).update(cancel_at_period_end=True)
    day(billing_clock, dt.date(2026, 12, 31))
    assert tasks.send_reminders()["sent"] == 0 and mail.outbox == []
