"""Celery tasks of the LMS fulfillment app."""

from celery import shared_task

from . import fulfillment


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, name="lms.process_line")
def process_line(self, line_id: int, **kwargs):
    """Enroll (or unenroll) one order line; retried on the LMS_RETRY_SCHEDULE, dead-lettered after it."""
    return fulfillment.run_line(self, line_id)
