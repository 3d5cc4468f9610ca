"""Celery tasks of the subscriptions app, on Celery beat every SUBSCRIPTIONS_SWEEP_INTERVAL seconds.

Each run does what is due by the clock and nothing twice (unique ledger rows), so a lost or skipped run
is caught up by the next one.
"""

from celery import shared_task

from commerce_coordinator.apps.core import tracing

from . import operations, reminders, renewals


@shared_task(name="subscriptions.renew_due")
def renew_due():
    with tracing.span("command", "beat subscriptions.renew_due"):
        counters = renewals.renew_due(actor="beat")
        counters["incomplete_expired"] = operations.expire_incomplete(actor="beat")
        return counters


@shared_task(name="subscriptions.send_reminders")
def send_reminders():
    with tracing.span("command", "beat subscriptions.send_reminders"):
        return reminders.send_due(actor="beat")
