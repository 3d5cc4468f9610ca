"""Periodic jobs of the core (scheduled by CELERY_BEAT_SCHEDULE)."""

from io import StringIO

from celery import shared_task
from django.core.management import call_command


@shared_task(acks_late=True)
def prune_traces() -> str:
    """Delete traces older than CC_TRACE_RETENTION_DAYS; the same as `manage.py prune_traces`."""
    out = StringIO()
    call_command("prune_traces", stdout=out)
    return out.getvalue().strip()
