"""manage.py send_renewal_reminders [--json]: send the renewal reminders that are due (what beat runs)."""

import json

from django.core.management.base import BaseCommand

from commerce_coordinator.apps.core import tracing

from ... import reminders


class Command(BaseCommand):
    help = "Send renewal_reminder_due for each subscription, period and SUBSCRIPTIONS_REMINDER_DAYS entry due."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print a one-object JSON summary.")

    def handle(self, *args, **options):
        with tracing.span("command", "manage.py send_renewal_reminders"):
            counters = reminders.send_due(actor="command:send_renewal_reminders")
        if options["json"]:
            return json.dumps(counters)
        self.stdout.write(", ".join(f"{k}={v}" for k, v in counters.items()))
        return ""
