"""Periodic jobs of the core (scheduled by CELERY_BEAT_SCHEDULE)."""

from io import StringIO

from celery import shared_task
from django.core.management import call_command

from . import durable, tracing


@shared_task(acks_late=True)
def prune_traces() -> str:
    """Delete traces older than CC_TRACE_RETENTION_DAYS; the same as `manage.py prune_traces`."""
    out = StringIO()
    call_command("prune_traces", stdout=out)
    return out.getvalue().strip()


@shared_task(name="core.sweep_durable_work")
def sweep_durable_work() -> dict:
    """Re-enqueue stalled durable work items of every app (see durable.sweep); the same as
    `manage.py sweep_durable_work`."""
    with tracing.span("task", "core.sweep_durable_work"):
        return durable.sweep()
