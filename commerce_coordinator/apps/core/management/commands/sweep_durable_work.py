"""manage.py sweep_durable_work: re-enqueue durable work items whose task was lost, now."""

from django.core.management.base import BaseCommand

from commerce_coordinator.apps.core import durable, tracing


class Command(BaseCommand):
    help = "Re-enqueue stalled durable work items of every app (what the periodic core.sweep_durable_work does)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=500, help="Items per model at most (default 500).")

    def handle(self, *args, limit, **options):
        with tracing.span("command", "sweep_durable_work", "manage.py"):
            found = durable.sweep(limit=limit)
        if not found:
            self.stdout.write("Nothing stalled.")
        for label, count in found.items():
            self.stdout.write(f"{label}: {count} item(s) re-enqueued")
