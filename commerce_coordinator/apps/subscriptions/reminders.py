"""Renewal reminders: renewal_reminder_due N days before a renewal, once per subscription, period and N.

Each run looks at every active subscription renewing within the largest N: for each N whose window has
opened it writes a ReminderSent row with conflicts ignored (the unique key makes a second run do nothing),
and sends the reminder only for the rows it wrote. A run after missed beats catches up: only the nearest
open window is sent, the farther ones are recorded as skipped (one reminder, not a burst).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction

from commerce_coordinator.apps.core import tracing

from . import clock, renewals
from .models import ReminderSent, Subscription, SubscriptionStatus
from .signals import renewal_reminder_due


def _due(today):
    horizon = today + timedelta(days=max(settings.SUBSCRIPTIONS_REMINDER_DAYS, default=0))
    return Subscription.objects.filter(
        status=SubscriptionStatus.ACTIVE, cancel_at_period_end=False, renews_on__gt=today, renews_on__lte=horizon
    )


def send_due(actor: str = "reminders") -> dict:
    """Write and send what is due now; returns counters."""
    today, token = clock.today(), uuid.uuid4().hex
    days = sorted(set(settings.SUBSCRIPTIONS_REMINDER_DAYS))
    counters = {"sent": 0, "skipped": 0}
    for page in renewals.pages(_due(today), 1000):
        rows = []
        for sub in page:
            opened = [n for n in days if (sub.renews_on - today).days <= n]
            rows += [ReminderSent(subscription_id=sub.pk, period_start=sub.renews_on, days_before=n,
                                  skipped=n != opened[0], run_token=token) for n in opened]  # fmt: skip
        with transaction.atomic():
            ReminderSent.objects.bulk_create(rows, ignore_conflicts=True)
            mine = ReminderSent.objects.filter(run_token=token, subscription_id__in=[s.pk for s in page])
            by_pk = {sub.pk: sub for sub in page}
            for reminder in mine:
                if reminder.skipped:
                    counters["skipped"] += 1
                    continue
                counters["sent"] += 1
                transaction.on_commit(partial(_send, by_pk[reminder.subscription_id], reminder), robust=True)
    return counters


def _send(sub: Subscription, reminder: ReminderSent) -> None:
    with tracing.span("work", f"subscriptions.reminder {reminder.days_before}d", subscription_id=sub.pk,
                      account_id=sub.account_id):  # fmt: skip
        renewal_reminder_due.send(
            "subscriptions",
            subscription=sub.as_data(),
            account={"account_id": sub.account_id},
            renews_at=sub.renews_on.isoformat(),
            amount=sub.plan.price,
        )
