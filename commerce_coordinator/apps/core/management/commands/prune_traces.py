"""manage.py prune_traces: delete traces older than CC_TRACE_RETENTION_DAYS (or --days)."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from commerce_coordinator.apps.core.models import TraceNode


class Command(BaseCommand):
    help = "Delete stored signal traces whose top-level send is older than the retention period."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Override CC_TRACE_RETENTION_DAYS.")
        parser.add_argument("--dry-run", action="store_true", help="Count what would go, delete nothing.")
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, days=None, dry_run=False, batch_size=1000, **options):
        days = settings.CC_TRACE_RETENTION_DAYS if days is None else days
        if days < 0:
            raise CommandError("--days must be zero or more")
        cutoff = timezone.now() - timedelta(days=days)
        old_traces = TraceNode.objects.filter(parent_id__isnull=True, started_at__lt=cutoff)
        old_traces = old_traces.values_list("trace_id", flat=True).distinct()
        if dry_run:
            self.stdout.write(f"Would delete {old_traces.count()} trace(s) started before {cutoff:%Y-%m-%d %H:%M}.")
            return
        traces = nodes = 0
        while batch := list(old_traces[:batch_size]):
            nodes += TraceNode.objects.filter(trace_id__in=batch).delete()[0]
            traces += len(batch)
        # Worker nodes whose send was pruned (or never stored) go too once they are old.
        nodes += TraceNode.objects.filter(started_at__lt=cutoff).delete()[0]
        self.stdout.write(f"Deleted {traces} trace(s), {nodes} node(s), started before {cutoff:%Y-%m-%d %H:%M}.")
