"""Celery tasks of the LMS fulfillment app (on their own queue: LMS_CELERY_QUEUE, CELERY_TASK_ROUTES)."""

from celery import shared_task
from django.conf import settings

from commerce_coordinator.apps.core import durable

from . import fulfillment
from .models import OrderLine


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, name="lms.process_line")
def process_line(self, line_id: int, **kwargs):
    """Enroll (or unenroll) one order line: a durable work item, retried on LMS_RETRY_SCHEDULE.

    Lost tasks are found by core's generic sweep (core.sweep_durable_work), not by a task of this app.
    """
    return fulfillment.run_line(self, line_id)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, name="lms.process_lines")
def process_lines(self, lines: list, **kwargs):
    """The lines of one order published together ([[line id, claim token], ...]; core.durable.run_batch): each
    run as its own process_line task would, at the same time on the free threads of the worker's pool of
    LMS_LINES_AT_ONCE (an order's enrollment calls do not wait for one another); a retry goes to the line's own
    task."""
    pool = durable.thread_pool("lms-lines", settings.LMS_LINES_AT_ONCE)
    return durable.run_batch(OrderLine, lines, fulfillment.run_line, pool=pool)
