"""Settings of apps/subscriptions: reminders, the renewal sweep, dunning levels that suspend."""

import os

# Days before a renewal that renewal_reminder_due is sent (several allowed; each once per period).
SUBSCRIPTIONS_REMINDER_DAYS = [int(d) for d in os.environ.get("SUBSCRIPTIONS_REMINDER_DAYS", "7,1").split(",") if d]
# Seconds between runs of the renewal sweep (and reminders) on Celery beat; each run catches up what is due.
SUBSCRIPTIONS_SWEEP_INTERVAL = float(os.environ.get("SUBSCRIPTIONS_SWEEP_INTERVAL", "300"))
# Subscriptions renewed per transaction (one signal to invoicing per page).
SUBSCRIPTIONS_BATCH_SIZE = int(os.environ.get("SUBSCRIPTIONS_BATCH_SIZE", "500"))
# An incomplete subscription (first payment failed) expires after this many hours unpaid.
SUBSCRIPTIONS_INCOMPLETE_EXPIRES_HOURS = float(os.environ.get("SUBSCRIPTIONS_INCOMPLETE_EXPIRES_HOURS", "23"))
# account_overdue levels (INVOICING_DUNNING_LADDER) that suspend the account's past-due subscriptions.
SUBSCRIPTIONS_SUSPEND_LEVELS = ["blocked", "cancellation"]
SUBSCRIPTIONS_EMAIL_FROM = os.environ.get("SUBSCRIPTIONS_EMAIL_FROM", "billing@commerce-coordinator.invalid")
