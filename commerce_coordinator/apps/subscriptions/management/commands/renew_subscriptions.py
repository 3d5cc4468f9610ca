"""manage.py renew_subscriptions [--limit N] [--json]: renew every due subscription now (what beat runs)."""

import json

from django.core.management.base import BaseCommand

from commerce_coordinator.apps.core import tracing

from ... import operations, renewals


class Command(BaseCommand):
    help = "Renew (or end at period end) every active subscription whose period is over; expire unpaid incomplete ones."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, help="Renew at most this many subscriptions.")
        parser.add_argument("--json", action="store_true", help="Print a one-object JSON summary.")

    def handle(self, *args, **options):
        with tracing.span("command", "manage.py renew_subscriptions"):
            counters = renewals.renew_due(options["limit"], actor="command:renew_subscriptions")
            counters["incomplete_expired"] = operations.expire_incomplete("command:renew_subscriptions")
        if options["json"]:
            return json.dumps(counters)
        self.stdout.write(", ".join(f"{k}={v}" for k, v in counters.items()))
        return ""
