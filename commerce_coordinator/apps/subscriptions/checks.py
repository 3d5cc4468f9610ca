"""System checks of the subscriptions settings (manage.py check; stable ids subscriptions.E001-E002)."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_subscriptions_settings(app_configs=None, **kwargs):
    errors = []
    days = getattr(settings, "SUBSCRIPTIONS_REMINDER_DAYS", [])
    if not isinstance(days, list) or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in days):
        errors.append(
            Error(
                "SUBSCRIPTIONS_REMINDER_DAYS must be a list of whole days (each at least 1) before a renewal.",
                hint="e.g. [7, 1] (SUBSCRIPTIONS_REMINDER_DAYS=7,1 in the environment); [] sends no reminders.",
                id="subscriptions.E001",
            )
        )
    size = getattr(settings, "SUBSCRIPTIONS_BATCH_SIZE", 0)
    if not isinstance(size, int) or size < 1:
        errors.append(
            Error(
                "SUBSCRIPTIONS_BATCH_SIZE must be a positive integer (subscriptions renewed per transaction).",
                hint="e.g. 500.",
                id="subscriptions.E002",
            )
        )
    return errors
