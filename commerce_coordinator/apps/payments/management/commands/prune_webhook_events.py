"""Delete old finished webhook events (their payloads hold e-mails): ``manage.py prune_webhook_events``."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ... import inbox


class Command(BaseCommand):
    help = (
        "Delete webhook events received more than PAYMENTS_EVENT_RETENTION_DAYS days ago that are finished "
        "(processed, failed, ignored, unroutable); events still pending, running or waiting for a retry stay."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="Keep this many days instead of the setting.")

    def handle(self, *args, days=None, **options):
        days = settings.PAYMENTS_EVENT_RETENTION_DAYS if days is None else days
        if days < 1:
            raise CommandError("--days must be at least 1")
        deleted = inbox.prune(days)
        self.stdout.write(f"Deleted {deleted} webhook event(s) older than {days} day(s).")
