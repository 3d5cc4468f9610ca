"""Celery tasks of the LMS fulfillment app."""

from celery import shared_task

from commerce_coordinator.apps.core import tracing

from . import fulfillment


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, name="lms.process_line")
def process_line(self, line_id: int, **kwargs):
    """Enroll (or unenroll) one order line; retried on the LMS_RETRY_SCHEDULE, dead-lettered after it."""
    return fulfillment.run_line(self, line_id)


@shared_task(name="lms.sweep_stalled_lines")
def sweep_stalled_lines():
    """Periodic (CELERY_BEAT_SCHEDULE): re-queue lines whose task was lost (see fulfillment.stalled_lines)."""
    with tracing.trace():
        done = fulfillment.requeue_lines(list(fulfillment.stalled_lines()))
    return {
        "requeued": [
            f"{line.order.order_number} {line.course_run_key}" for line, what in done if what.startswith("re-queued")
        ]
    }
